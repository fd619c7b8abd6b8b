package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.bench.plot.LinePlot;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/**
 * {@code tandem bench decode}: decode throughput of the colocated engine against AFD layouts on
 * the same number of cores, or the same GPU ({@code --device cuda}: every node process on it),
 * sweeping the batch size and m. Each AFD layout is a real local cluster (one process per
 * node); the colocated baseline runs in this process with every core.
 */
@Command(name = "decode", mixinStandardHelpOptions = true,
        description = "Decode throughput, time between tokens and busy fractions: colocated vs attention/FFN disaggregation.")
final class BenchDecodeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Checkpoint (e.g. tandem synth --preset mixtral-8x7b --layers 2).")
    Path model;

    @Option(names = "--cores", description = "Cores for every layout (default: all).")
    Integer cores;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "8,32", description = "Sequences decoded together (default ${DEFAULT-VALUE}).")
    int[] batchSizes;

    @Option(names = "--micro-batches", split = ",", defaultValue = "1,2,3", description = "m values for AFD (default ${DEFAULT-VALUE}).")
    int[] microBatches;

    @Option(names = "--layouts", split = ",", defaultValue = "1x1", description = "AFD layouts AxE (attention x expert nodes, cores split evenly) or AxE:TA/TE (TA threads per attention node, TE per expert node) (default ${DEFAULT-VALUE}).")
    String[] layouts;

    @Option(names = "--prompt-tokens", defaultValue = "16", description = "Prompt length (default ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--decode-tokens", defaultValue = "16", description = "Tokens generated per sequence (default ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--json", description = "Write the results as JSON.")
    Path jsonOut;

    @Option(names = "--plot", description = "Write a PNG: tokens/s and TBT p99 against batch size, one line per layout and m.")
    Path plotOut;

    @Option(names = "--replot", description = "Only draw --plot from the JSON of an earlier run.")
    Path replot;

    @picocli.CommandLine.Mixin
    DeviceOptions device = new DeviceOptions();

    private final ObjectMapper json = new ObjectMapper();

    @Override
    public Integer call() throws IOException {
        if (replot != null) { // draw a saved run, e.g. one made on a machine without fonts
            plot((ArrayNode) json.readTree(replot.toFile()).get("results"));
            return 0;
        }
        if (model == null) {
            throw new IllegalArgumentException("--model is required (unless --replot)");
        }
        int totalCores = cores != null ? cores : Runtime.getRuntime().availableProcessors();
        ArrayNode rows = json.createArrayNode();
        for (int batch : batchSizes) {
            rows.add(colocated(totalCores, batch));
            for (String layout : layouts) {
                String[] nodesThreads = layout.toLowerCase(Locale.ROOT).split(":");
                String[] ae = nodesThreads[0].split("x");
                int a = Integer.parseInt(ae[0]);
                int e = Integer.parseInt(ae[1]);
                int[] threads = nodesThreads.length > 1
                        ? java.util.Arrays.stream(nodesThreads[1].split("/")).mapToInt(Integer::parseInt).toArray()
                        : new int[] {Math.max(1, totalCores / (a + e)), Math.max(1, totalCores / (a + e))};
                for (int m : microBatches) {
                    rows.add(disaggregated(batch, a, e, threads[0], threads[1], m));
                }
            }
        }
        System.out.println("| layout | cores | batch | m | tokens/s | tokens/s/core | TBT p50 ms | TBT p99 ms | attention busy"
                + " | expert busy | Ta µs | Te µs | send µs | Tc µs |");
        System.out.println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (JsonNode r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %s | %.1f | %.2f | %.1f | %.1f | %s | %s | %s | %s | %s | %s |%n",
                    r.get("layout").asText(), r.get("cores").asInt(), r.get("batch").asInt(), r.path("m").asText("-"),
                    r.get("tokens_per_s").asDouble(), r.get("tokens_per_s_per_core").asDouble(),
                    r.get("tbt_p50_ms").asDouble(), r.get("tbt_p99_ms").asDouble(), r.path("attention_busy").asText("-"),
                    r.path("expert_busy").asText("-"), micros(r, "ta_us"), micros(r, "te_us"), micros(r, "send_us"),
                    micros(r, "tc_us"));
        }
        if (jsonOut != null) {
            ObjectNode root = json.createObjectNode();
            root.set("results", rows);
            Files.writeString(jsonOut, json.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        }
        if (plotOut != null) {
            plot(rows);
        }
        return 0;
    }

    private void plot(ArrayNode rows) {
        LinePlot throughput = new LinePlot("Decode throughput", "batch (sequences)", "tokens/s").logX(true);
        LinePlot latency = new LinePlot("Time between tokens, p99", "batch (sequences)", "ms").logX(true);
        java.util.Map<String, List<JsonNode>> series = new java.util.LinkedHashMap<>();
        for (JsonNode r : rows) {
            String name = r.get("layout").asText() + (r.has("m") ? " m=" + r.get("m").asInt() : "");
            series.computeIfAbsent(name, k -> new ArrayList<>()).add(r);
        }
        series.forEach((name, points) -> {
            double[] x = points.stream().mapToDouble(p -> p.get("batch").asDouble()).toArray();
            throughput.series(name, x, points.stream().mapToDouble(p -> p.get("tokens_per_s").asDouble()).toArray());
            latency.series(name, x, points.stream().mapToDouble(p -> p.get("tbt_p99_ms").asDouble()).toArray());
        });
        LinePlot.writePng(plotOut, List.of(throughput, latency), 2, 640, 420);
    }

    /**
     * Tokens per step (the prefill chunk), the same for every layout of a batch: a node's whole
     * prompt share, capped so that an M2N frame stays under Aeron's 16 MiB message.
     */
    private int chunkTokens(int batch, int attentionNodes) {
        var config = dev.tandem.core.config.ModelConfigLoader.load(model);
        int frameRows = (15 << 20) / (config.hiddenSize() * Float.BYTES + 16);
        return Math.max(16, Math.min(promptTokens * ((batch + attentionNodes - 1) / attentionNodes),
                frameRows / config.expertsPerToken()));
    }

    private List<int[]> prompts(int batch, int vocab) {
        SplittableRandom random = new SplittableRandom(batch);
        List<int[]> prompts = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            prompts.add(random.ints(promptTokens, 3, vocab).toArray());
        }
        return prompts;
    }

    private ObjectNode colocated(int totalCores, int batch) {
        System.err.printf("tandem: colocated, %d cores, batch %d%n", totalCores, batch);
        try (CausalLm lm = Models.load(model, device.spec(totalCores).open(DeviceOptions.log()), chunkTokens(batch, 1))) {
            Generator generator = new Generator(lm, lm.newKvCache(batch * (promptTokens + decodeTokens + 1), 16));
            List<Request> requests = new ArrayList<>();
            for (int[] prompt : prompts(batch, lm.config().vocabSize())) {
                requests.add(new Request(prompt, decodeTokens, dev.tandem.core.sampling.SamplingParams.GREEDY, false, false));
            }
            generator.generate(requests.subList(0, 1)); // JIT warm-up
            for (Request r : requests) {
                generator.submit(r, result -> { });
            }
            List<Long> decodeSteps = new ArrayList<>();
            long start = System.nanoTime();
            long decoded = 0;
            while (generator.hasWork()) {
                long stepStart = System.nanoTime();
                long before = generator.stats().decodeTokens();
                generator.step();
                if (generator.stats().decodeTokens() > before) {
                    decodeSteps.add(System.nanoTime() - stepStart);
                }
                decoded = generator.stats().decodeTokens();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            long[] sorted = decodeSteps.stream().mapToLong(Long::longValue).sorted().toArray();
            ObjectNode row = row("colocated", totalCores, batch, null, (batch + decoded) / seconds,
                    percentile(sorted, 0.5) / 1e6, percentile(sorted, 0.99) / 1e6);
            return row;
        }
    }

    private ObjectNode disaggregated(int batch, int a, int e, int attentionThreads, int threads, int m) {
        System.err.printf("tandem: AFD %dx%d, %d thread(s) per attention node and %d per expert node, batch %d, m=%d%n",
                a, e, attentionThreads, threads, batch, m);
        ClusterOptions options = new ClusterOptions();
        options.model = model;
        options.attentionNodes = a;
        options.expertNodes = e;
        options.microBatches = m;
        options.threads = threads;
        options.attentionThreads = attentionThreads;
        options.device = device;
        var config = dev.tandem.core.config.ModelConfigLoader.load(model);
        options.maxBatchTokens = chunkTokens(batch, a);
        options.kvTokens = (batch / a + 1) * (promptTokens + decodeTokens + 16);
        int vocab = config.vocabSize();
        List<int[]> prompts = prompts(batch, vocab);
        double tokensPerSecond;
        JsonNode[] stats = new JsonNode[a];
        List<JsonNode> expertStats;
        try (LocalCluster cluster = options.start()) {
            run(cluster, prompts.subList(0, Math.min(prompts.size(), a)), 2); // warm-up: start, JIT
            cluster.resetStats();
            long start = System.nanoTime();
            run(cluster, prompts, decodeTokens);
            tokensPerSecond = (double) batch * decodeTokens / ((System.nanoTime() - start) / 1e9);
            for (int i = 0; i < a; i++) {
                stats[i] = cluster.stats(i).join().get("stats");
            }
            cluster.close();
            expertStats = cluster.expertStats();
        }
        ObjectNode row = row(a + "x" + e + (attentionThreads == threads ? "" : ":" + attentionThreads + "/" + threads),
                a * attentionThreads + e * threads, batch, m, tokensPerSecond,
                Arrays.stream(stats).mapToDouble(s -> s.get("step_p50_us").asDouble()).max().orElse(0) / 1e3,
                Arrays.stream(stats).mapToDouble(s -> s.get("step_p99_us").asDouble()).max().orElse(0) / 1e3);
        row.put("attention_busy", String.format(Locale.ROOT, "%.2f",
                Arrays.stream(stats).mapToDouble(s -> s.get("busy_fraction").asDouble()).average().orElse(0)));
        row.put("expert_busy", String.format(Locale.ROOT, "%.2f",
                expertStats.stream().mapToDouble(s -> s.path("busy_fraction").asDouble()).average().orElse(0)));
        putPingPongTimes(row, stats, expertStats, m);
        row.set("attention_stats", json.valueToTree(stats));
        row.set("expert_stats", json.valueToTree(expertStats));
        return row;
    }

    /** Sends every prompt, spread over the attention nodes, and waits for all results. */
    private void run(LocalCluster cluster, List<int[]> prompts, int tokens) {
        List<CompletableFuture<JsonNode>> results = new ArrayList<>();
        for (int s = 0; s < prompts.size(); s++) {
            ObjectNode request = json.createObjectNode();
            request.set("input_ids", json.valueToTree(prompts.get(s)));
            request.put("max_tokens", tokens).put("ignore_eos", true);
            results.add(cluster.submit(s % cluster.attentionNodes(), request));
        }
        for (CompletableFuture<JsonNode> r : results) {
            JsonNode result = r.join();
            if (result.has("error")) {
                throw new dev.tandem.core.TandemException(result.get("error").asText());
            }
        }
    }

    private ObjectNode row(String layout, int cores, int batch, Integer m, double tokensPerSecond, double p50, double p99) {
        ObjectNode row = json.createObjectNode();
        row.put("layout", layout).put("cores", cores).put("batch", batch);
        if (m != null) {
            row.put("m", m);
        }
        row.put("tokens_per_s", tokensPerSecond).put("tokens_per_s_per_core", tokensPerSecond / cores)
                .put("tbt_p50_ms", p50).put("tbt_p99_ms", p99);
        return row;
    }

    /**
     * Ta and the attention side's send time per (layer, micro-batch) from the attention nodes,
     * Te from the expert nodes (means over nodes). Tc, one way, only where m = 1: there the
     * attention node waits for exactly the round trip, so Tc = (wait − Te) / 2.
     */
    private static void putPingPongTimes(ObjectNode row, JsonNode[] attention, List<JsonNode> experts, int m) {
        double ta = Arrays.stream(attention).mapToDouble(s -> s.get("ta_us").asDouble()).average().orElse(0);
        double send = Arrays.stream(attention).mapToDouble(s -> meanOverLayers(s, "send_us")).average().orElse(0);
        double wait = Arrays.stream(attention).mapToDouble(s -> meanOverLayers(s, "wait_us")).average().orElse(0);
        double te = experts.stream().mapToDouble(s -> s.path("te_us").asDouble()).average().orElse(0);
        row.put("ta_us", ta).put("te_us", te).put("send_us", send);
        if (m == 1) {
            row.put("tc_us", Math.max(0, wait - te) / 2);
        }
    }

    private static double meanOverLayers(JsonNode stats, String field) {
        double sum = 0;
        for (JsonNode layer : stats.get("layers")) {
            sum += layer.get(field).asDouble();
        }
        return stats.get("layers").isEmpty() ? 0 : sum / stats.get("layers").size();
    }

    private static String micros(JsonNode row, String field) {
        return row.has(field) ? String.format(Locale.ROOT, "%.0f", row.get(field).asDouble()) : "-";
    }

    private static double percentile(long[] sorted, double q) {
        return sorted.length == 0 ? 0 : sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    }
}
