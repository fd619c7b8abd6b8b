package dev.tandem.scheduler.metrics;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The serving metrics /metrics shows, in Prometheus text format 0.0.4. Recorded from event
 * loops and engine threads alike; every record is a few atomic adds.
 */
public final class ApiMetrics {
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>(); // "endpoint\0status"
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();
    private final AtomicInteger running = new AtomicInteger();
    private final TokenRate tokenRate = new TokenRate();
    private final LatencyHistogram timeToFirstToken = new LatencyHistogram("tandem_time_to_first_token_seconds",
            "Time from receiving a request to its first generated token.",
            0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80);
    private final LatencyHistogram timeBetweenTokens = new LatencyHistogram("tandem_time_between_tokens_seconds",
            "Time between consecutive generated tokens of a request.",
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5);
    private final LatencyHistogram e2eLatency = new LatencyHistogram("tandem_e2e_request_latency_seconds",
            "Time from receiving a completion request to its last byte.",
            0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480);

    /** One answered request: its endpoint (the path, or "other") and HTTP status. */
    public void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + '\0' + status, k -> new LongAdder()).increment();
    }

    public void started(int promptTokenCount) {
        promptTokens.add(promptTokenCount);
        running.incrementAndGet();
    }

    /** A generated token; {@code sinceLastNanos} from the request's arrival for its first token. */
    public void token(boolean first, long sinceLastNanos, long nowNanos) {
        generationTokens.increment();
        tokenRate.add(1, nowNanos);
        (first ? timeToFirstToken : timeBetweenTokens).record(sinceLastNanos);
    }

    public void finished(long e2eNanos) {
        running.decrementAndGet();
        e2eLatency.record(e2eNanos);
    }

    public long promptTokens() {
        return promptTokens.sum();
    }

    public long generationTokens() {
        return generationTokens.sum();
    }

    /** Completion requests in flight. */
    public int running() {
        return running.get();
    }

    /** The exposition, with the engine's queue depths per pool as gauges. */
    public String render(Map<String, Integer> queueDepths) {
        StringBuilder out = new StringBuilder(4096);
        header(out, "tandem_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
        for (Map.Entry<String, LongAdder> e : new TreeMap<>(requests).entrySet()) {
            int split = e.getKey().indexOf('\0');
            out.append("tandem_requests_total{endpoint=\"").append(escape(e.getKey().substring(0, split)))
                    .append("\",status=\"").append(e.getKey().substring(split + 1)).append("\"} ")
                    .append(e.getValue().sum()).append('\n');
        }
        sample(out, "tandem_prompt_tokens_total", "counter", "Prompt tokens of started requests.", promptTokens.sum());
        sample(out, "tandem_generation_tokens_total", "counter", "Generated tokens.", generationTokens.sum());
        timeToFirstToken.writeTo(out);
        timeBetweenTokens.writeTo(out);
        e2eLatency.writeTo(out);
        header(out, "tandem_queue_depth", "gauge", "Requests waiting in the engine, per pool.");
        for (Map.Entry<String, Integer> e : new TreeMap<>(queueDepths).entrySet()) {
            out.append("tandem_queue_depth{pool=\"").append(escape(e.getKey())).append("\"} ")
                    .append(e.getValue()).append('\n');
        }
        sample(out, "tandem_running_requests", "gauge", "Completion requests in flight.", running.get());
        header(out, "tandem_generation_tokens_per_second", "gauge", "Generated tokens per second over the last 10 s.");
        out.append("tandem_generation_tokens_per_second ").append(tokenRate.perSecond(System.nanoTime())).append('\n');
        return out.toString();
    }

    private static void sample(StringBuilder out, String name, String type, String help, long value) {
        header(out, name, type, help);
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void header(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static String escape(String label) {
        return label.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
