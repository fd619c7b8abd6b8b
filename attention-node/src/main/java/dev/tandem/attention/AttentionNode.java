package dev.tandem.attention;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsWriter;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.RequestLines;
import dev.tandem.core.engine.Result;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.transport.ClusterTransport;
import dev.tandem.transport.M2nSender;
import dev.tandem.transport.PeerLostException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * An attention node: the attention side of the model, a paged KV cache and continuous batching,
 * with the experts on expert nodes behind M2N. Requests arrive as JSON lines, results leave as
 * JSON lines ({@link RequestLines}). Every node of a cluster takes every step, idle or not, so
 * that the expert nodes can gather one frame per attention node for each (step, layer,
 * micro-batch); the node steps until its input closes.
 */
public final class AttentionNode implements AutoCloseable {
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.MINUTES.toNanos(10);
    private static final long STOP_GRACE_MS = 2_000;
    private static final long MAX_IDLE_PAUSE_NS = TimeUnit.MICROSECONDS.toNanos(500);

    private final int id;
    private final ClusterTransport transport;
    private final CausalLm model;
    private final Generator generator;
    private final DisaggregationMetrics metrics;
    private final Map<String, RequestHandle> pending = new ConcurrentHashMap<>();
    private final ObjectMapper json = new ObjectMapper();
    private volatile boolean inputClosed;

    public AttentionNode(ClusterConfig cluster, int id, int microBatches) {
        this.id = id;
        CpuBackend backend = new CpuBackend(cluster.threadsPerNode());
        CausalLm lm = Models.loadAttention(cluster.model(), backend, cluster.maxBatchTokens());
        try {
            int topK = lm.config().expertsPerToken();
            this.transport = new ClusterTransport(cluster, lm.config().hiddenSize(), cluster.maxBatchTokens() * topK);
            M2nSender sender = transport.sender(id, CONNECT_TIMEOUT_NS);
            this.metrics = new DisaggregationMetrics(lm.config().numLayers());
            lm.useDispatch(new RemoteMoeDispatch(sender, backend, new ExpertPlacement(cluster,
                    lm.config().numExperts()), lm.config().numExperts(), microBatches, cluster.maxBatchTokens(), topK,
                    lm.config().hiddenSize(), metrics));
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        this.model = lm;
        this.generator = new Generator(lm, lm.newKvCache(cluster.kvTokens(), 16), microBatches);
    }

    /** Serves until {@code in} closes; results and replies go to {@code out}, one JSON line each. */
    public void serve(BufferedReader in, PrintStream out) {
        Thread reader = Thread.ofPlatform().daemon().name("attention-" + id + "-requests").start(() -> read(in, out));
        long pause = 0;
        try {
            while (!inputClosed || generator.hasWork()) {
                long start = System.nanoTime();
                long prefilled = generator.stats().prefillTokens();
                int tokens = generator.step();
                metrics.step(System.nanoTime() - start, tokens, generator.stats().prefillTokens() == prefilled);
                if (tokens == 0) {
                    pause = Math.min(MAX_IDLE_PAUSE_NS, Math.max(10_000, pause * 2)); // idle: back off a little
                    LockSupport.parkNanos(pause);
                } else {
                    pause = 0;
                }
            }
        } catch (RuntimeException e) {
            if (e instanceof PeerLostException && pending.isEmpty() && inputClosesWithin(reader, STOP_GRACE_MS)
                    && pending.isEmpty()) {
                return; // stopping with nothing in flight: a node that stopped first ends our idle steps
            }
            String reason = "attention node " + id + " failed: " + e.getMessage();
            for (String requestId : pending.keySet()) {
                reply(out, error(requestId, reason));
            }
            throw new TandemException(reason, e);
        } finally {
            reader.interrupt();
        }
    }

    /** Whether the input closes within {@code millis}: a launcher closes all nodes' inputs at once. */
    private boolean inputClosesWithin(Thread reader, long millis) {
        try {
            reader.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return inputClosed;
    }

    private void read(BufferedReader in, PrintStream out) {
        try {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (!line.isBlank()) {
                    handle(line, out);
                }
            }
        } catch (IOException e) {
            System.err.println("attention node " + id + ": request input failed: " + e.getMessage());
        } finally {
            inputClosed = true;
        }
    }

    private void handle(String line, PrintStream out) {
        String requestId = null;
        try {
            JsonNode r = json.readTree(line);
            if (r.path("stats").asBoolean(false)) {
                reply(out, "{\"stats\":" + metrics.toJson(id) + "}");
                return;
            }
            if (r.path("reset_stats").asBoolean(false)) {
                metrics.reset();
                generator.stats().reset();
                reply(out, "{\"reset_stats\":true}");
                return;
            }
            if (r.has("cancel")) {
                RequestHandle handle = pending.get(r.get("cancel").asText());
                if (handle != null) {
                    handle.cancel();
                }
                return;
            }
            requestId = r.path("id").asText();
            Request request = RequestLines.request(r);
            String logitsOut = r.path("logits_out").isTextual() ? r.get("logits_out").asText() : null;
            String rid = requestId;
            LineListener listener = new LineListener(rid, request, r.path("stream").asBoolean(false), logitsOut, out);
            RequestHandle handle = generator.submit(request, listener);
            pending.put(rid, handle);
            if (listener.ended) {
                pending.remove(rid); // it ended before we could note it
            }
        } catch (IOException | RuntimeException e) {
            if (requestId != null) {
                pending.remove(requestId);
            }
            reply(out, error(requestId, e.getMessage()));
        }
    }

    /** Writes one request's token lines and its end to {@code out}. */
    private final class LineListener implements GenerationListener {
        private final String id;
        private final Request request;
        private final boolean stream;
        private final String logitsOut;
        private final PrintStream out;
        volatile boolean ended;

        LineListener(String id, Request request, boolean stream, String logitsOut, PrintStream out) {
            this.id = id;
            this.request = request;
            this.stream = stream;
            this.logitsOut = logitsOut;
            this.out = out;
        }

        @Override
        public void onToken(int token) {
            if (stream) {
                reply(out, json.createObjectNode().put("id", id).put("token", token).toString());
            }
        }

        @Override
        public void onDone(Result result) {
            ended = true;
            pending.remove(id);
            reply(out, done(id, request, result, logitsOut));
        }

        @Override
        public void onError(String message) {
            ended = true;
            pending.remove(id);
            reply(out, error(id, message));
        }
    }

    private String done(String requestId, Request request, Result result, String logitsOut) {
        if (logitsOut != null) {
            SafetensorsWriter.write(Path.of(logitsOut), List.of(new SafetensorsWriter.Entry("logits", DType.F32,
                    new long[] {request.prompt().length, model.config().vocabSize()},
                    SafetensorsWriter.floats(result.promptLogits()))), Map.of("format", "pt"));
        }
        ObjectNode o = json.createObjectNode();
        o.put("id", requestId);
        o.set("output_ids", json.valueToTree(result.outputIds()));
        o.put("finish_reason", result.finishReason());
        return o.toString();
    }

    private String error(String requestId, String message) {
        ObjectNode o = json.createObjectNode();
        if (requestId != null) {
            o.put("id", requestId);
        }
        o.put("error", message);
        return o.toString();
    }

    private static void reply(PrintStream out, String line) {
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    @Override
    public void close() {
        transport.close();
        model.close();
    }
}
