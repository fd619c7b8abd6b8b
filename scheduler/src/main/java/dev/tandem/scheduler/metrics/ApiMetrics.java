package dev.tandem.scheduler.metrics;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.datapoints.GaugeDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * What /metrics shows: vLLM's metric set under vLLM's names, each with a {@code model_name}
 * label (running and waiting requests, KV-cache usage, prompt and generation tokens,
 * {@code request_success_total} by finish reason, time to first token, inter-token latency,
 * end-to-end latency, prefill and decode time, preemptions), Tandem's per-pool queue depths and
 * HTTP answers, and the JVM's and the process's own. Through the Prometheus client, which writes
 * the text format or OpenMetrics as the scraper asks. Recorded from event loops and engine
 * threads alike; every record is a few atomic adds.
 */
public final class ApiMetrics {
    private static final double[] TTFT_BOUNDS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1,
            2.5, 5, 7.5, 10, 20, 40, 80};
    private static final double[] TOKEN_BOUNDS = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1,
            2.5, 5, 7.5, 10, 20, 40, 80};
    private static final double[] REQUEST_BOUNDS = {0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120,
            240, 480, 960, 1920, 7680};
    private static final ExpositionFormats FORMATS = ExpositionFormats.init();

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final String model;
    private final Counter requests;
    private final CounterDataPoint promptTokens;
    private final CounterDataPoint generationTokens;
    private final Counter success;
    private final CounterDataPoint preemptions;
    private long preemptionsSeen;
    private final GaugeDataPoint running;
    private final GaugeDataPoint waiting;
    private final GaugeDataPoint kvUsage;
    private final Gauge queueDepth;
    private final Gauge machines;
    private final DistributionDataPoint timeToFirstToken;
    private final DistributionDataPoint interTokenLatency;
    private final DistributionDataPoint e2eLatency;
    private final DistributionDataPoint queueTime;
    private final DistributionDataPoint prefillTime;
    private final DistributionDataPoint decodeTime;

    public ApiMetrics() {
        this("tandem");
    }

    /** @param modelName the {@code model_name} label: the served model's name */
    public ApiMetrics(String modelName) {
        this.model = modelName;
        requests = Counter.builder().name("tandem_http_requests").help("HTTP requests answered, by endpoint and status.")
                .labelNames("endpoint", "status").register(registry);
        promptTokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.");
        generationTokens = counter("vllm:generation_tokens", "Number of generation tokens processed.");
        success = Counter.builder().name("vllm:request_success").help("Count of successfully processed requests.")
                .labelNames("model_name", "finished_reason").register(registry);
        running = gauge("vllm:num_requests_running", "Number of requests in model execution batches.");
        waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.");
        kvUsage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
        preemptions = counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.");
        machines = Gauge.builder().name("tandem_machines").help("Machines of a disaggregated engine, per pool, alive or lost.")
                .labelNames("model_name", "pool", "state").register(registry);
        queueDepth = Gauge.builder().name("tandem_queue_depth").help("Requests waiting in the engine, per pool.")
                .labelNames("model_name", "pool").register(registry);
        timeToFirstToken = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                TTFT_BOUNDS);
        interTokenLatency = histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                TOKEN_BOUNDS);
        e2eLatency = histogram("vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds (arrival to the last byte).", REQUEST_BOUNDS);
        queueTime = histogram("vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.", REQUEST_BOUNDS);
        prefillTime = histogram("vllm:request_prefill_time_seconds",
                "Histogram of time spent in PREFILL phase for request.", REQUEST_BOUNDS);
        decodeTime = histogram("vllm:request_decode_time_seconds",
                "Histogram of time from the first token to the last, in seconds.", REQUEST_BOUNDS);
        JvmMetrics.builder().register(registry);
    }

    private CounterDataPoint counter(String name, String help) {
        return Counter.builder().name(name).help(help).labelNames("model_name").register(registry).labelValues(model);
    }

    private GaugeDataPoint gauge(String name, String help) {
        return Gauge.builder().name(name).help(help).labelNames("model_name").register(registry).labelValues(model);
    }

    private DistributionDataPoint histogram(String name, String help, double[] bounds) {
        return Histogram.builder().name(name).help(help).labelNames("model_name").classicOnly()
                .classicUpperBounds(bounds).register(registry).labelValues(model);
    }

    /** One answered request: its endpoint (the path, or "other") and HTTP status. */
    public void request(String endpoint, int status) {
        requests.labelValues(endpoint, Integer.toString(status)).inc();
    }

    public void started(int promptTokenCount) {
        promptTokens.inc(promptTokenCount);
        running.inc();
    }

    /** A generated token; {@code sinceLastNanos} from the request's arrival for its first token. */
    public void token(boolean first, long sinceLastNanos, long nowNanos) {
        generationTokens.inc();
        (first ? timeToFirstToken : interTokenLatency).observe(sinceLastNanos / 1e9);
    }

    /**
     * A request ended: {@code finishReason} "stop" or "length" (counted as a success), "abort" (the
     * client went away) or "error"; {@code admittedNanos} after arrival the engine took it from its
     * queue, {@code firstTokenNanos} after arrival its first token came (negative: did not happen).
     */
    public void finished(String finishReason, long e2eNanos, long admittedNanos, long firstTokenNanos) {
        running.dec();
        e2eLatency.observe(e2eNanos / 1e9);
        if (admittedNanos >= 0) {
            queueTime.observe(admittedNanos / 1e9);
        }
        if (firstTokenNanos >= 0) {
            prefillTime.observe((firstTokenNanos - Math.max(0, Math.min(admittedNanos, firstTokenNanos))) / 1e9);
            decodeTime.observe((e2eNanos - firstTokenNanos) / 1e9);
        }
        if (finishReason.equals("stop") || finishReason.equals("length") || finishReason.equals("abort")) {
            success.labelValues(model, finishReason).inc();
        }
    }

    public long promptTokens() {
        return promptTokens.getLongValue();
    }

    public long generationTokens() {
        return generationTokens.getLongValue();
    }

    /** Completion requests in flight. */
    public int running() {
        return (int) running.get();
    }

    /**
     * The exposition in the format {@code accept} (the scraper's Accept header, or null) asks for;
     * {@code preemptionsTotal}: the engine's preemptions so far (the counter catches up to it).
     */
    public synchronized Exposition render(Map<String, Integer> queueDepths, double kvCacheUsage, long preemptionsTotal,
                                          Map<String, int[]> machinesPerPool, String accept) {
        machinesPerPool.forEach((pool, counts) -> {
            machines.labelValues(model, pool, "alive").set(counts[0]);
            machines.labelValues(model, pool, "lost").set(counts[1] - counts[0]);
        });
        if (preemptionsTotal > preemptionsSeen) {
            preemptions.inc(preemptionsTotal - preemptionsSeen);
            preemptionsSeen = preemptionsTotal;
        }
        int total = 0;
        for (Map.Entry<String, Integer> e : queueDepths.entrySet()) {
            queueDepth.labelValues(model, e.getKey()).set(e.getValue());
            total += e.getValue();
        }
        waiting.set(total);
        kvUsage.set(kvCacheUsage);
        ExpositionFormatWriter writer = FORMATS.findWriter(accept);
        ByteArrayOutputStream out = new ByteArrayOutputStream(16384);
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Exposition(writer.getContentType(), out.toString(StandardCharsets.UTF_8));
    }

    public record Exposition(String contentType, String body) {
    }
}
