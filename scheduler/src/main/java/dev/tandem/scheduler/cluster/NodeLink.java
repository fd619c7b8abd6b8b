package dev.tandem.scheduler.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.cluster.ClusterToken;
import dev.tandem.core.cluster.NodeProtocol;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * The scheduler's line connection to one node ({@link dev.tandem.core.engine.RequestLines}): over
 * a child process's pipes or a TCP socket. One reader thread hands each line to the engine; the
 * end of the stream means the node is gone. With {@link #expectHeartbeats} a node that stops
 * talking without exiting (hung, stopped, cut off) is gone too, once it has been silent for the
 * timeout: a shared watchdog checks every link a few times a heartbeat.
 */
public final class NodeLink implements AutoCloseable {
    /** How often a node is asked to say it lives, and the silence after which it is taken for gone. */
    public static final long HEARTBEAT_MS = 100;
    public static final long HEARTBEAT_TIMEOUT_MS = 800;
    private static final long WATCHDOG_MS = 50;
    private static final java.util.List<NodeLink> WATCHED = new java.util.concurrent.CopyOnWriteArrayList<>();
    private static java.util.concurrent.ScheduledExecutorService watchdog;

    private final String name;
    private final PrintWriter out;
    private final InputStream in;
    private static final int HANDSHAKE_TIMEOUT_MS = 10_000;
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ObjectMapper json = new ObjectMapper();
    private volatile boolean closed;
    private final java.util.concurrent.atomic.AtomicBoolean lost = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile Consumer<String> onLost;
    private volatile long heartbeatTimeoutNanos; // 0: no heartbeats expected
    private volatile long lastHeardNanos;        // the last line read; 0 until the first heartbeat arms the watchdog
    private volatile boolean handling;           // a line is with the engine: silence meanwhile is ours, not the node's

    public NodeLink(String name, InputStream in, OutputStream out) {
        this.name = name;
        this.in = in;
        this.out = new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), false);
    }

    /**
     * Connects to a node listening at {@code hostPort}, retrying until {@code timeoutMs} passes
     * (nodes load their weights before they listen).
     */
    public static NodeLink connect(String name, String hostPort, long timeoutMs) {
        return connect(name, hostPort, timeoutMs, null, null);
    }

    /**
     * The same, answering the node's challenge with {@code token} (null: the cluster has none; a node
     * that asks for one is then an error naming it), and refusing a node of another
     * {@link NodeProtocol#VERSION} or, where {@code model} is given, one that serves a checkpoint of
     * another fingerprint, naming both.
     */
    public static NodeLink connect(String name, String hostPort, long timeoutMs, ClusterToken token, String model) {
        int colon = hostPort.lastIndexOf(':');
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            try {
                java.net.Socket socket = new java.net.Socket(hostPort.substring(0, colon),
                        Integer.parseInt(hostPort.substring(colon + 1)));
                socket.setTcpNoDelay(true);
                String label = name + " (" + hostPort + ")";
                handshake(label, socket, token, model);
                return new NodeLink(label, socket.getInputStream(), socket.getOutputStream());
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new dev.tandem.core.TandemException("cannot reach " + name + " at " + hostPort + " within "
                            + timeoutMs + " ms: " + e.getMessage(), e);
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new dev.tandem.core.TandemException("interrupted while connecting to " + name);
                }
            }
        }
    }

    /** The node's hello, and where it sends a challenge, the token's answer and the node's verdict. */
    private static void handshake(String name, java.net.Socket socket, ClusterToken token, String model)
            throws IOException {
        socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
        InputStream in = socket.getInputStream();
        JsonNode hello = JSON.readTree(rawLine(in, name));
        if (!"tandem-node".equals(hello.path("hello").asText())) {
            socket.close();
            throw new dev.tandem.core.TandemException(name + " is not a Tandem node (it greeted with " + hello + ")");
        }
        int protocol = hello.path("protocol").asInt(0);
        if (protocol != NodeProtocol.VERSION) {
            socket.close();
            throw new dev.tandem.core.TandemException(name + " speaks node protocol " + protocol + " and this scheduler "
                    + NodeProtocol.VERSION + ": run one Tandem version on the scheduler and its nodes");
        }
        String served = hello.path("model").asText(null);
        if (model != null && !model.equals(served)) {
            socket.close();
            throw new dev.tandem.core.TandemException(name + " serves the model " + served + " but the scheduler's is "
                    + model + ": point the scheduler's model (and its tokenizer) at the checkpoint its nodes load");
        }
        String challenge = hello.path("challenge").asText(null);
        if (challenge != null) {
            if (token == null) {
                socket.close();
                throw new dev.tandem.core.TandemException(name + " wants the cluster token: give the scheduler"
                        + " --cluster-token-file FILE or " + ClusterToken.ENV);
            }
            OutputStream out = socket.getOutputStream();
            out.write(("{\"auth\":\"" + token.answer(challenge) + "\"}\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            JsonNode verdict = JSON.readTree(rawLine(in, name));
            if (!verdict.path("authenticated").asBoolean(false)) {
                socket.close();
                throw new dev.tandem.core.TandemException(name + " refused the cluster token: "
                        + verdict.path("error").asText(verdict.toString()));
            }
        }
        socket.setSoTimeout(0);
    }

    /** A line read a byte at a time, so that nothing past it is taken from the stream the link reads next. */
    private static String rawLine(InputStream in, String name) throws IOException {
        java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        for (int b = in.read(); b >= 0; b = in.read()) {
            if (b == '\n') {
                return line.toString(StandardCharsets.UTF_8);
            }
            if (line.size() == 4096) {
                throw new IOException(name + " sent a handshake line longer than 4096 bytes");
            }
            line.write(b);
        }
        throw new IOException(name + " closed the connection during the handshake");
    }

    public String name() {
        return name;
    }

    /**
     * Asks the node for a heartbeat line every {@code intervalMs}. Once the first has come, a node
     * silent for {@code timeoutMs} (while no line of it is with the engine) is lost as if its output
     * had ended, and whatever it says later is dropped. Before {@link #start}.
     */
    public void expectHeartbeats(long intervalMs, long timeoutMs) {
        heartbeatTimeoutNanos = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        send(json.createObjectNode().put("heartbeat_ms", intervalMs));
        watch(this);
    }

    /** {@link #expectHeartbeats} at the defaults ({@link #HEARTBEAT_MS}, {@link #HEARTBEAT_TIMEOUT_MS}); this link. */
    public NodeLink withHeartbeats() {
        expectHeartbeats(HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS);
        return this;
    }

    /** Starts reading: every line to {@code onLine}, then {@code onLost} once with the reason, unless closed first. */
    public void start(Consumer<JsonNode> onLine, Consumer<String> onLost) {
        this.onLost = onLost;
        Thread.ofPlatform().daemon().name(name + "-lines").start(() -> {
            String reason = "its output ended";
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null && !lost.get(); line = reader.readLine()) {
                    if (!line.startsWith("{")) {
                        continue;
                    }
                    JsonNode node = json.readTree(line);
                    boolean heartbeat = node.has("heartbeat");
                    if (heartbeatTimeoutNanos > 0 && (heartbeat || lastHeardNanos != 0)) {
                        lastHeardNanos = System.nanoTime(); // armed by the first heartbeat; then any line says it lives
                    }
                    if (heartbeat) {
                        continue;
                    }
                    handling = true;
                    try {
                        onLine.accept(node);
                    } finally {
                        handling = false;
                    }
                }
            } catch (IOException | RuntimeException e) {
                reason = e.getMessage();
            }
            lose(reason);
        });
    }

    /** {@code onLost} once, unless closed first. */
    private void lose(String reason) {
        if (!closed && lost.compareAndSet(false, true)) {
            WATCHED.remove(this);
            Consumer<String> handler = onLost;
            if (handler != null) {
                handler.accept(name + " is gone: " + reason);
            }
        }
    }

    private static synchronized void watch(NodeLink link) {
        WATCHED.add(link);
        if (watchdog == null) {
            watchdog = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                    r -> Thread.ofPlatform().daemon().name("node-heartbeat-watchdog").unstarted(r));
            watchdog.scheduleWithFixedDelay(NodeLink::checkHeartbeats, WATCHDOG_MS, WATCHDOG_MS,
                    java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    private static void checkHeartbeats() {
        long now = System.nanoTime();
        for (NodeLink link : WATCHED) {
            long heard = link.lastHeardNanos;
            if (link.closed) {
                WATCHED.remove(link);
            } else if (heard != 0 && link.onLost != null && !link.handling
                    && now - heard > link.heartbeatTimeoutNanos) {
                link.lose("no heartbeat for " + (now - heard) / 1_000_000 + " ms (hung, stopped or cut off)");
            }
        }
    }

    /** Sends one line; false if the node can no longer be written to. */
    public synchronized boolean send(JsonNode line) {
        out.println(line.toString());
        out.flush();
        return !out.checkError();
    }

    @Override
    public synchronized void close() {
        closed = true;
        WATCHED.remove(this);
        out.close();
    }
}
