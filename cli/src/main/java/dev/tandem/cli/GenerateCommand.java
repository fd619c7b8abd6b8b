package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsWriter;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code tandem generate}: one prompt of token ids through the colocated engine, one JSON line out. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate tokens from a checkpoint; prints {\"input_ids\":[...],\"output_ids\":[...]} on stdout.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory.")
    Path model;

    @Option(names = "--input-ids", required = true, split = ",", description = "Prompt token ids, comma-separated.")
    int[] inputIds;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling mass (default ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ignore-eos", description = "Keep generating past the end-of-sequence token.")
    boolean ignoreEos;

    @Option(names = "--logits-out", description = "Write the logits at every prompt position to this safetensors file (tensor 'logits', float32 [prompt length, vocab]).")
    Path logitsOut;

    @Option(names = "--threads", description = "Kernel threads (default: all cores).")
    Integer threads;

    @Override
    public Integer call() {
        if (maxTokens < 0) {
            throw new TandemException("--max-tokens must be >= 0, got " + maxTokens);
        }
        SamplingParams sampling;
        try {
            sampling = new SamplingParams(temperature, topP, seed);
        } catch (IllegalArgumentException e) {
            throw new TandemException("--" + e.getMessage().replace("top_p", "top-p"));
        }
        int chunk = Math.max(64, Math.min(512, inputIds.length));
        try (CausalLm lm = Models.load(model, threads == null ? new CpuBackend() : new CpuBackend(threads), chunk)) {
            int context = Math.min(lm.config().maxPositions(), inputIds.length + maxTokens);
            Generator generator = new Generator(lm, lm.newKvCache(Math.max(context, 1), 16));
            long start = System.nanoTime();
            Result result = generator.generate(List.of(new Request(inputIds, maxTokens, sampling, !ignoreEos,
                    logitsOut != null))).getFirst();
            double seconds = (System.nanoTime() - start) / 1e9;
            if (logitsOut != null) {
                SafetensorsWriter.write(logitsOut, List.of(new SafetensorsWriter.Entry("logits", DType.F32,
                        new long[] {inputIds.length, lm.config().vocabSize()},
                        SafetensorsWriter.floats(result.promptLogits()))), Map.of("format", "pt"));
            }
            spec.commandLine().getOut().println("{\"input_ids\":" + Json.array(inputIds) + ",\"output_ids\":"
                    + Json.array(result.outputIds()) + "}");
            spec.commandLine().getOut().flush();
            spec.commandLine().getErr().printf("tandem: %d prompt + %d generated tokens in %.2f s (prefill %.1f tok/s, decode %.1f tok/s), finish: %s%n",
                    inputIds.length, result.outputIds().length, seconds, generator.stats().prefillTokensPerSecond(),
                    generator.stats().decodeTokensPerSecond(), result.finishReason());
            spec.commandLine().getErr().flush();
        }
        return 0;
    }
}
