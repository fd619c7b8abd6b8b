package dev.tandem.scheduler.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.cluster.ClusterToken;

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
 * end of the stream means the node is gone.
 */
public final class NodeLink implements AutoCloseable {
    private final String name;
    private final PrintWriter out;
    private final InputStream in;
    private static final int HANDSHAKE_TIMEOUT_MS = 10_000;
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ObjectMapper json = new ObjectMapper();
    private volatile boolean closed;

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
        return connect(name, hostPort, timeoutMs, null);
    }

    /**
     * The same, answering the node's challenge with {@code token} (null: the cluster has none; a node
     * that asks for one is then an error naming it).
     */
    public static NodeLink connect(String name, String hostPort, long timeoutMs, ClusterToken token) {
        int colon = hostPort.lastIndexOf(':');
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            try {
                java.net.Socket socket = new java.net.Socket(hostPort.substring(0, colon),
                        Integer.parseInt(hostPort.substring(colon + 1)));
                socket.setTcpNoDelay(true);
                String label = name + " (" + hostPort + ")";
                handshake(label, socket, token);
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
    private static void handshake(String name, java.net.Socket socket, ClusterToken token) throws IOException {
        socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
        InputStream in = socket.getInputStream();
        JsonNode hello = JSON.readTree(rawLine(in, name));
        if (!"tandem-node".equals(hello.path("hello").asText())) {
            socket.close();
            throw new dev.tandem.core.TandemException(name + " is not a Tandem node (it greeted with " + hello + ")");
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

    /** Starts reading: every line to {@code onLine}, then {@code onLost} once with the reason, unless closed first. */
    public void start(Consumer<JsonNode> onLine, Consumer<String> onLost) {
        Thread.ofPlatform().daemon().name(name + "-lines").start(() -> {
            String reason = "its output ended";
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    if (line.startsWith("{")) {
                        onLine.accept(json.readTree(line));
                    }
                }
            } catch (IOException | RuntimeException e) {
                reason = e.getMessage();
            }
            if (!closed) {
                onLost.accept(name + " is gone: " + reason);
            }
        });
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
        out.close();
    }
}
