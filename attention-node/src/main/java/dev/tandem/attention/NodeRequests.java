package dev.tandem.attention;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsWriter;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.RequestLines;
import dev.tandem.core.engine.Result;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * A node's side of the request protocol ({@link RequestLines}): reads lines on its own thread,
 * hands each request to the node (which queues it for its stepping thread), and writes token,
 * result and error lines as the requests progress. Shared by attention nodes and prompt nodes.
 */
final class NodeRequests {
    /** How a node takes one request line; {@code line} carries the node-specific fields (KV transfer). */
    @FunctionalInterface
    interface Submitter {
        RequestHandle submit(JsonNode line, Request request, GenerationListener listener);
    }

    private final String node;
    private final PrintStream out;
    private final int vocabSize;
    private final Submitter submitter;
    private final Supplier<String> stats;
    private final Runnable resetStats;
    private final boolean filesAllowed;
    private final Map<String, RequestHandle> pending = new ConcurrentHashMap<>();
    private final ObjectMapper json = new ObjectMapper();
    private Thread reader;
    private volatile boolean inputClosed;
    private Thread heartbeats;

    NodeRequests(String node, PrintStream out, int vocabSize, Submitter submitter, Supplier<String> stats,
                 Runnable resetStats) {
        this(node, out, vocabSize, submitter, stats, resetStats, true);
    }

    /**
     * {@code filesAllowed}: requests may name a file for their logits ({@code logits_out}), as the
     * operator's own lines on stdin may; lines from the network (a {@code --listen} node) may not.
     */
    NodeRequests(String node, PrintStream out, int vocabSize, Submitter submitter, Supplier<String> stats,
                 Runnable resetStats, boolean filesAllowed) {
        this.filesAllowed = filesAllowed;
        this.node = node;
        this.out = out;
        this.vocabSize = vocabSize;
        this.submitter = submitter;
        this.stats = stats;
        this.resetStats = resetStats;
    }

    /** Starts reading request lines from {@code in} until it closes. */
    void start(BufferedReader in) {
        reader = Thread.ofPlatform().daemon().name(node + "-requests").start(() -> read(in));
    }

    boolean inputClosed() {
        return inputClosed;
    }

    /** Requests submitted and not ended. */
    Set<String> pending() {
        return pending.keySet();
    }

    /** Whether the input closes within {@code millis}: a launcher closes all nodes' inputs at once. */
    boolean inputClosesWithin(long millis) {
        try {
            reader.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return inputClosed;
    }

    /**
     * The node cannot go on: says so first (so that no new request is routed here), then an error
     * line for every request in flight.
     */
    void failAll(String reason) {
        reply(json.createObjectNode().put("node_failed", true).put("error", reason).toString());
        for (String id : List.copyOf(pending.keySet())) {
            pending.remove(id);
            reply(error(id, reason));
        }
    }

    void stop() {
        if (reader != null) {
            reader.interrupt();
        }
        synchronized (this) {
            if (heartbeats != null) {
                heartbeats.interrupt();
            }
        }
    }

    private void read(BufferedReader in) {
        BoundedLines lines = new BoundedLines(in, BoundedLines.MAX_LINE_CHARS);
        try {
            for (String line = lines.next(); line != null; line = lines.next()) {
                if (!line.isBlank()) {
                    handle(line);
                }
            }
        } catch (IOException e) {
            System.err.println(node + ": request input failed: " + e.getMessage());
        } finally {
            inputClosed = true;
        }
    }

    private void handle(String line) {
        String id = null;
        try {
            JsonNode r = json.readTree(line);
            if (r.path("stats").asBoolean(false)) {
                reply("{\"stats\":" + stats.get() + "}");
                return;
            }
            if (r.path("reset_stats").asBoolean(false)) {
                resetStats.run();
                reply("{\"reset_stats\":true}");
                return;
            }
            if (r.has("heartbeat_ms")) {
                startHeartbeats(r.get("heartbeat_ms").asLong());
                return;
            }
            if (r.has("cancel")) {
                RequestHandle handle = pending.get(r.get("cancel").asText());
                if (handle != null) {
                    handle.cancel();
                }
                return;
            }
            id = r.path("id").asText();
            Request request = RequestLines.request(r);
            String logitsOut = r.path("logits_out").isTextual() ? r.get("logits_out").asText() : null;
            if (logitsOut != null && !filesAllowed) {
                throw new IllegalArgumentException("logits_out is refused over the network: a remote peer may not"
                        + " name a file on this node");
            }
            LineListener listener = new LineListener(id, request, r.path("stream").asBoolean(false), logitsOut);
            RequestHandle handle = submitter.submit(r, request, listener);
            pending.put(id, handle);
            if (listener.ended) {
                pending.remove(id); // it ended before we could note it
            }
        } catch (IOException | RuntimeException e) {
            if (id != null) {
                pending.remove(id);
            }
            reply(error(id, e.getMessage()));
        }
    }

    /** Writes one request's token lines and its end. */
    private final class LineListener implements GenerationListener {
        private final String id;
        private final Request request;
        private final boolean stream;
        private final String logitsOut;
        volatile boolean ended;

        LineListener(String id, Request request, boolean stream, String logitsOut) {
            this.id = id;
            this.request = request;
            this.stream = stream;
            this.logitsOut = logitsOut;
        }

        @Override
        public void onToken(int token) {
            if (stream) {
                reply(json.createObjectNode().put("id", id).put("token", token).toString());
            }
        }

        @Override
        public void onDone(Result result) {
            ended = true;
            pending.remove(id);
            reply(done(id, request, result, logitsOut));
        }

        @Override
        public void onError(String message) {
            ended = true;
            pending.remove(id);
            reply(error(id, message));
        }
    }

    private String done(String id, Request request, Result result, String logitsOut) {
        if (logitsOut != null) {
            SafetensorsWriter.write(Path.of(logitsOut), List.of(new SafetensorsWriter.Entry("logits", DType.F32,
                    new long[] {request.prompt().length, vocabSize},
                    SafetensorsWriter.floats(result.promptLogits()))), Map.of("format", "pt"));
        }
        ObjectNode o = json.createObjectNode();
        o.put("id", id);
        o.set("output_ids", json.valueToTree(result.outputIds()));
        o.put("finish_reason", result.finishReason());
        return o.toString();
    }

    /**
     * A {@code {"heartbeat":true}} line every {@code intervalMs} (clamped to 10 ms - 10 s) until the
     * input closes, from a thread of its own: the scheduler asks for them to tell a hung node from a
     * busy one, and a long step on the stepping thread does not delay them. Once.
     */
    private synchronized void startHeartbeats(long intervalMs) {
        if (heartbeats != null) {
            return;
        }
        long interval = Math.clamp(intervalMs, 10, 10_000);
        heartbeats = Thread.ofPlatform().daemon().name(node + "-heartbeats").start(() -> {
            while (!inputClosed) {
                reply("{\"heartbeat\":true}");
                try {
                    Thread.sleep(interval);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    private String error(String id, String message) {
        ObjectNode o = json.createObjectNode();
        if (id != null) {
            o.put("id", id);
        }
        o.put("error", message);
        return o.toString();
    }

    private void reply(String line) {
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }
}
