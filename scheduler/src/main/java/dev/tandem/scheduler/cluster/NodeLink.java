package dev.tandem.scheduler.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

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
        int colon = hostPort.lastIndexOf(':');
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            try {
                java.net.Socket socket = new java.net.Socket(hostPort.substring(0, colon),
                        Integer.parseInt(hostPort.substring(colon + 1)));
                socket.setTcpNoDelay(true);
                return new NodeLink(name + " (" + hostPort + ")", socket.getInputStream(), socket.getOutputStream());
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
