package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsWriter;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
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

    @picocli.CommandLine.Mixin
    DeviceOptions device;

    @Option(names = "--attention-nodes", description = "Run through a local disaggregated cluster with this many attention node processes.")
    Integer attentionNodes;

    @Option(names = "--expert-nodes", description = "… and this many expert node processes (default 1 with --attention-nodes).")
    Integer expertNodes;

    @Option(names = "--micro-batches", description = "m for the cluster (1..4; default: chosen from measured Ta, Te, Tc).")
    Integer microBatches;

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
        if (attentionNodes != null || expertNodes != null || microBatches != null) {
            return throughCluster();
        }
        int chunk = Math.max(64, Math.min(512, inputIds.length));
        try (CausalLm lm = Models.load(model, device.spec(threads == null ? 0 : threads).open(DeviceOptions.log()), chunk)) {
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

    /** The same request through attention and expert node processes; the attention node writes the logits. */
    private int throughCluster() {
        ClusterOptions options = new ClusterOptions();
        options.model = model;
        options.attentionNodes = attentionNodes == null ? 1 : attentionNodes;
        options.expertNodes = expertNodes == null ? 1 : expertNodes;
        options.microBatches = microBatches;
        options.threads = threads == null ? 1 : threads;
        options.maxBatchTokens = Math.max(64, Math.min(512, inputIds.length));
        options.kvTokens = Math.max(64, inputIds.length + maxTokens);
        options.device = device;
        ObjectNode request = new ObjectMapper().createObjectNode();
        request.set("input_ids", new ObjectMapper().valueToTree(inputIds));
        request.put("max_tokens", maxTokens).put("temperature", temperature).put("top_p", topP).put("seed", seed)
                .put("ignore_eos", ignoreEos);
        if (logitsOut != null) {
            request.put("logits_out", logitsOut.toAbsolutePath().toString());
        }
        long start = System.nanoTime();
        JsonNode result;
        try (LocalCluster cluster = options.start()) {
            result = cluster.submit(0, request).join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof TandemException t ? t : new TandemException(e.getCause().getMessage(), e);
        }
        if (result.has("error")) {
            throw new TandemException(result.get("error").asText());
        }
        spec.commandLine().getOut().println("{\"input_ids\":" + Json.array(inputIds) + ",\"output_ids\":"
                + result.get("output_ids") + "}");
        spec.commandLine().getOut().flush();
        spec.commandLine().getErr().printf("tandem: through %d attention + %d expert nodes (m=%d) in %.2f s, finish: %s%n",
                options.attentionNodes, options.expertNodes, options.microBatches, (System.nanoTime() - start) / 1e9,
                result.path("finish_reason").asText());
        spec.commandLine().getErr().flush();
        return 0;
    }
}
