package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.bench.Roofline;
import dev.tandem.core.TandemException;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.engine.EngineStats;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.model.CausalLm;
import dev.tandem.cuda.CudaBackend;
import dev.tandem.cuda.CudaCeilings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tandem bench gpu}: decode and prefill tokens/s on a CUDA device, each beside its
 * roofline measured in the same run (the copy bandwidth for decode, the bf16 GEMM rate for
 * prefill). By default the model is the full Mixtral-8x7B shape with synthetic weights made on
 * the device (94 GB would not fit the disk of the GPU machines this was written for).
 */
@Command(name = "gpu", mixinStandardHelpOptions = true,
        description = "Decode and prefill tokens/s on a GPU against the roofline measured in the same run; prints a markdown table.")
final class BenchGpuCommand implements Callable<Integer> {
    private static final int KV_BLOCK = 16;
    private static final int PREFILL_REPEATS = 3;
    private static final int PREFILL_WARMUPS = 3; // a serving process has long compiled its routing and sorting

    @Mixin
    BenchModel.Options weights;

    @Mixin
    DeviceOptions device;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "1,8,32,128",
            description = "Decode batch sizes (default ${DEFAULT-VALUE}).")
    int[] batchSizes;

    @Option(names = "--context", defaultValue = "128", description = "Prompt tokens before decoding (default ${DEFAULT-VALUE}).")
    int context;

    @Option(names = "--decode-tokens", defaultValue = "32", description = "Decode steps timed per batch size (default ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--prefill-tokens", split = ",", defaultValue = "512,2048",
            description = "Prompt lengths prefilled alone (default ${DEFAULT-VALUE}).")
    int[] prefillTokens;

    @Option(names = "--compare-live", description = "Also time each decode batch with every kernel launched one at a time"
            + " (no CUDA graphs), beside the graph replay.")
    boolean compareLive;

    @Option(names = "--json", description = "Also write the results to this JSON file.")
    Path json;

    @Option(names = "--from", description = "Draw --plot from this saved --json report instead of measuring (no GPU needed).")
    Path from;

    @Option(names = "--peer-json", description = "The peer's results (bench/scripts/gpu_peer.py --json), drawn beside Tandem's.")
    Path peerJson;

    @Option(names = "--plot", description = "Write a PNG: decode tokens/s against batch (Tandem, roofline, the peer) and prefill.")
    Path plot;

    @Override
    public Integer call() throws IOException {
        if (from != null) {
            plot(new ObjectMapper().readTree(from.toFile()));
            return 0;
        }
        if (device.device == null) {
            device.device = "cuda:0";
        }
        int maxBatch = java.util.Arrays.stream(batchSizes).max().orElse(1);
        int maxPrefill = java.util.Arrays.stream(prefillTokens).max().orElse(0);
        int capacity = Math.max(maxBatch * context, maxPrefill);
        ComputeBackend backend = device.spec(0).open(DeviceOptions.log());
        if (!(backend instanceof CudaBackend cuda)) {
            backend.close();
            throw new TandemException("bench gpu needs a CUDA device (--device cuda:N)");
        }
        log("measuring the ceilings: device-to-device copy, 8192^3 bf16 GEMM");
        double copy = CudaCeilings.copyBandwidth(cuda, 2L << 30, 10);
        double gemm = CudaCeilings.bf16GemmFlops(cuda, 8192, 10);
        log(String.format("copy %.2f TB/s (read + write), bf16 GEMM %.0f TFLOP/s", copy / 1e12, gemm / 1e12));
        CausalLm lm = weights.load(backend, capacity, BenchGpuCommand::log);
        ModelConfig config = lm.config();
        ObjectNode report = new ObjectMapper().createObjectNode();
        report.put("device", cuda.device().name()).put("dtype", cuda.bf16() ? "bfloat16" : "float32")
                .put("model", weights.model != null ? weights.model.toString() : weights.preset).put("layers", config.numLayers())
                .put("copy_bytes_per_s", copy).put("gemm_flops_per_s", gemm);
        StringBuilder table = new StringBuilder();
        try (lm) {
            int longest = Math.max(maxPrefill + 1, context + decodeTokens + 1);
            int blocksPer = (longest + KV_BLOCK - 1) / KV_BLOCK + 1;
            Generator generator = new Generator(lm, lm.newKvCache(Math.max(maxBatch, 1) * blocksPer * KV_BLOCK, KV_BLOCK));
            int weightBytes = cuda.bf16() ? 2 : 4;
            long kvPerToken = cuda.kvBytesPerToken(config.numLayers(), config.numKvHeads(), config.headDim());
            log("warm-up");
            BenchModel.run(generator, config, 2, context, 4);
            table.append("| phase | batch | tokens | Tandem tokens/s | roofline tokens/s | of roofline |\n")
                    .append("| --- | ---: | ---: | ---: | ---: | ---: |\n");
            ArrayNode decode = report.putArray("decode");
            for (int b : batchSizes) {
                cuda.profileReset();
                EngineStats s = BenchModel.run(generator, config, b, context, decodeTokens);
                profile(cuda, "decode batch " + b);
                double bytes = Roofline.decodeStepBytes(config, b, context + decodeTokens / 2.0, weightBytes, kvPerToken);
                double bound = b / (bytes / copy);
                double measured = s.decodeTokensPerSecond();
                ObjectNode row = decode.addObject().put("batch", b).put("context", context).put("tokens_per_s", measured)
                        .put("roofline_tokens_per_s", bound).put("step_bytes", bytes);
                table.append(String.format("| decode | %d | %d ctx | %.0f | %.0f | %.0f%% |%n", b, context, measured,
                        bound, 100 * measured / bound));
                log(String.format("decode batch %d: %.1f tokens/s (roofline %.0f); graphs: %s", b, measured, bound,
                        cuda.graphStats()));
                if (compareLive) {
                    cuda.useGraphs(false);
                    double live = BenchModel.run(generator, config, b, context, decodeTokens).decodeTokensPerSecond();
                    cuda.useGraphs(true);
                    row.put("live_tokens_per_s", live);
                    log(String.format("decode batch %d without graphs: %.1f tokens/s (graphs: %.2fx)", b, live,
                            measured / live));
                }
            }
            ArrayNode prefill = report.putArray("prefill");
            for (int t : prefillTokens) {
                double[] runs = new double[PREFILL_REPEATS]; // one step each: the median of three
                for (int w = 0; w < PREFILL_WARMUPS; w++) { // untimed: the JIT compiles the host's side of a prompt step
                    BenchModel.run(generator, config, 1, t, 0);
                }
                for (int r = 0; r < runs.length; r++) {
                    cuda.profileReset();
                    runs[r] = BenchModel.run(generator, config, 1, t, 0).prefillTokensPerSecond();
                }
                profile(cuda, "prefill " + t);
                java.util.Arrays.sort(runs);
                double measured = runs[runs.length / 2];
                double flopsPerToken = Roofline.prefillFlops(config, t) / t;
                double bound = gemm / flopsPerToken;
                prefill.addObject().put("tokens", t).put("tokens_per_s", measured).put("gemm_bound_tokens_per_s", bound);
                table.append(String.format("| prefill | 1 | %d | %.0f | %.0f | %.0f%% |%n", t, measured, bound,
                        100 * measured / bound));
                log(String.format("prefill %d tokens: %.0f tokens/s (GEMM bound %.0f)", t, measured, bound));
            }
        }
        System.out.printf("%s, %s, %s (%d layers); copy %.2f TB/s, bf16 GEMM %.0f TFLOP/s%n%n%s",
                report.get("device").asText(), report.get("dtype").asText(), report.get("model").asText(),
                config.numLayers(), copy / 1e12, gemm / 1e12, table);
        if (json != null) {
            Files.writeString(json, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report));
        }
        plot(report);
        return 0;
    }

    /** Decode tokens/s against batch and prefill tokens/s against prompt length, each beside its bound and the peer. */
    private void plot(com.fasterxml.jackson.databind.JsonNode report) throws IOException {
        if (plot == null) {
            return;
        }
        dev.tandem.bench.plot.LinePlot decode = new dev.tandem.bench.plot.LinePlot(
                "Decode, " + report.path("model").asText() + " " + report.path("dtype").asText() + ", "
                        + report.path("device").asText(), "batch (sequences)", "tokens/s").logX(true).logY(true);
        dev.tandem.bench.plot.LinePlot prefill = new dev.tandem.bench.plot.LinePlot("Prefill, one prompt",
                "prompt tokens", "tokens/s").logX(true);
        decode.series("Tandem", column(report.get("decode"), "batch"), column(report.get("decode"), "tokens_per_s"));
        decode.series("roofline (copy bandwidth)", column(report.get("decode"), "batch"),
                column(report.get("decode"), "roofline_tokens_per_s"));
        prefill.series("Tandem", column(report.get("prefill"), "tokens"), column(report.get("prefill"), "tokens_per_s"));
        prefill.series("GEMM bound", column(report.get("prefill"), "tokens"),
                column(report.get("prefill"), "gemm_bound_tokens_per_s"));
        if (peerJson != null) {
            for (com.fasterxml.jackson.databind.JsonNode run : new ObjectMapper().readTree(peerJson.toFile()).get("runs")) {
                String name = "transformers " + run.get("experts_implementation").asText();
                addMeasured(decode, name, run.get("decode"), "batch");
                addMeasured(prefill, name, run.get("prefill"), "tokens");
            }
        }
        dev.tandem.bench.plot.LinePlot.writePng(plot, List.of(decode, prefill), 2, 640, 420);
    }

    /** The points the peer measured (it runs out of memory at some sizes: those have no value). */
    private static void addMeasured(dev.tandem.bench.plot.LinePlot plot, String name,
                                    com.fasterxml.jackson.databind.JsonNode rows, String x) {
        List<double[]> points = new ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode r : rows) {
            if (r.get("tokens_per_s").isNumber()) {
                points.add(new double[]{r.get(x).asDouble(), r.get("tokens_per_s").asDouble()});
            }
        }
        if (!points.isEmpty()) {
            plot.series(name, points.stream().mapToDouble(p -> p[0]).toArray(), points.stream().mapToDouble(p -> p[1]).toArray());
        }
    }

    private static double[] column(com.fasterxml.jackson.databind.JsonNode rows, String field) {
        double[] out = new double[rows.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = rows.get(i).get(field).asDouble();
        }
        return out;
    }

    /** {@code batch} random prompts of {@code promptTokens}, each decoding {@code decode} tokens after the first. */
    /** The device time per operation of the run just done, with -Dtandem.cuda.profile=true. */
    private static void profile(CudaBackend cuda, String what) {
        String report = cuda.profileReport();
        if (report != null) {
            log("profile of " + what + " (prefill and decode steps together): " + report);
        }
    }

    private static void log(String line) {
        System.err.println("tandem: " + line);
    }
}
