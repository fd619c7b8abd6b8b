package dev.tandem.cli;

import dev.tandem.scheduler.engine.ColocatedEngine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tandem serve}: the OpenAI-compatible HTTP API in front of the colocated engine (the whole
 * model in this process), until SIGINT or SIGTERM.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a checkpoint over the OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
                + "/v1/models, /health, /metrics).")
final class ServeCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    HttpServing http;

    @picocli.CommandLine.Parameters(index = "0", arity = "0..1", paramLabel = "MODEL",
            description = "Hugging Face checkpoint directory (as `vllm serve MODEL`; or --model).")
    Path positionalModel;

    @Option(names = "--model", description = "Hugging Face checkpoint directory.")
    Path model;

    @Option(names = "--max-model-len", description = "Serve at most this many positions (default: the model's context).")
    Integer maxModelLen;

    @Option(names = "--threads", description = "Kernel threads (default: all cores).")
    Integer threads;

    @Option(names = "--max-batch-tokens", defaultValue = "256", description = "Tokens per engine step (default ${DEFAULT-VALUE}).")
    int maxBatchTokens;

    @Option(names = "--kv-tokens", description = "KV cache positions over all requests (default: on a GPU what "
            + "--gpu-memory-utilization leaves after the weights; on the CPU 16384).")
    Integer kvTokens;

    @Option(names = "--gpu-memory-utilization", defaultValue = "0.9",
            description = "Share of the GPU's memory this server may fill: weights, then the KV cache (default ${DEFAULT-VALUE}).")
    double gpuMemoryUtilization;

    @Mixin
    DeviceOptions device;

    @Override
    public Integer call() throws Exception {
        if ((model == null) == (positionalModel == null)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), model == null
                    ? "Missing the model: give it as MODEL or --model" : "The model is given twice: MODEL and --model");
        }
        if (model == null) {
            model = positionalModel;
        }
        var codec = http.textCodec(model);
        ColocatedEngine engine = new ColocatedEngine(model, http.name(model), device.spec(threads == null ? 0 : threads),
                maxBatchTokens, kvTokens, gpuMemoryUtilization, http.maxQueued, DeviceOptions.log(),
                maxModelLen == null ? 0 : maxModelLen);
        http.run(engine, engine, codec, "colocated");
        return 0;
    }
}
