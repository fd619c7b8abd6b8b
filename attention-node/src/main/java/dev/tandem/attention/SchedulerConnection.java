package dev.tandem.attention;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterToken;
import dev.tandem.core.cluster.NodeProtocol;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A node's request lines over TCP instead of stdin/stdout: the node listens, the scheduler
 * connects once (answering the node's challenge where the cluster has a token), and the node
 * serves that connection until the scheduler closes it.
 */
public final class SchedulerConnection implements AutoCloseable {
    private static final int HANDSHAKE_TIMEOUT_MS = 10_000;
    private static final int HANDSHAKE_LINE_CHARS = 1024;
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();
    private final Socket socket;
    private final BufferedReader in;
    private final PrintStream out;
    private final String model;

    private SchedulerConnection(Socket socket, String model) throws IOException {
        this.socket = socket;
        this.model = model;
        socket.setTcpNoDelay(true); // token lines are small and latency-bound
        this.in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        this.out = new PrintStream(socket.getOutputStream(), false, StandardCharsets.UTF_8);
    }

    /**
     * Listens on {@code hostPort} ("host:port", port 0 for any free one), writes the bound port to
     * {@code portFile} if given, and waits for the scheduler. With a {@code token}, a peer must
     * answer the node's challenge first ({@link ClusterToken}); one that does not is told so and
     * dropped, and the node waits on. Without one the node listens on loopback only. The greeting
     * names {@link NodeProtocol#VERSION} and {@code model}, the fingerprint of the checkpoint this
     * node serves, which the scheduler checks against its own.
     */
    public static SchedulerConnection accept(String hostPort, Path portFile, ClusterToken token, String model) {
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) {
            throw new TandemException("--listen '" + hostPort + "' is not host:port");
        }
        String host = hostPort.substring(0, colon);
        try (ServerSocket server = new ServerSocket()) {
            InetSocketAddress address = new InetSocketAddress(host, Integer.parseInt(hostPort.substring(colon + 1)));
            if (token == null && (address.getAddress() == null || !address.getAddress().isLoopbackAddress())) {
                throw new TandemException("--listen " + hostPort + " reaches beyond loopback: a node there needs a"
                        + " cluster token (--cluster-token-file FILE or " + ClusterToken.ENV + ")");
            }
            server.bind(address);
            if (portFile != null) {
                Files.writeString(portFile, Integer.toString(server.getLocalPort()));
            }
            System.err.println("tandem: waiting for the scheduler on " + host + ":" + server.getLocalPort()
                    + (token == null ? "" : " (cluster token required)"));
            while (true) {
                Socket socket = server.accept();
                SchedulerConnection c = new SchedulerConnection(socket, model);
                if (c.handshake(token)) {
                    return c;
                }
                c.close();
            }
        } catch (IOException | NumberFormatException e) {
            throw new TandemException("cannot listen on " + hostPort + ": " + e.getMessage(), e);
        }
    }

    /**
     * {"hello":"tandem-node","protocol":V,"model":M,"challenge":C} (C null without a token), then with a token the peer's
     * {"auth":HMAC(C)} within the handshake's time, answered {"authenticated":true} or an error.
     */
    private boolean handshake(ClusterToken token) throws IOException {
        String challenge = token == null ? null : ClusterToken.challenge();
        out.println(JSON.createObjectNode().put("hello", "tandem-node").put("protocol", NodeProtocol.VERSION)
                .put("model", model).put("challenge", challenge).toString());
        out.flush();
        if (token == null) {
            return true;
        }
        socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
        String answer;
        try {
            String line = shortLine();
            answer = line == null ? null : JSON.readTree(line).path("auth").asText(null);
        } catch (IOException | RuntimeException e) { // silent past the time, or not JSON
            answer = null;
        }
        if (!token.verifies(challenge, answer)) {
            System.err.println("tandem: refused a connection from " + socket.getRemoteSocketAddress()
                    + ": it did not answer the cluster token's challenge");
            out.println("{\"error\":\"authentication failed: this node wants the cluster token's answer to its challenge\"}");
            out.flush();
            return false;
        }
        socket.setSoTimeout(0);
        out.println("{\"authenticated\":true}");
        out.flush();
        return true;
    }

    /** One line of at most {@link #HANDSHAKE_LINE_CHARS}, read without buffering past it; null at the end. */
    private String shortLine() throws IOException {
        StringBuilder line = new StringBuilder();
        for (int c = in.read(); c >= 0; c = in.read()) {
            if (c == '\n') {
                return line.toString();
            }
            if (line.length() == HANDSHAKE_LINE_CHARS) {
                throw new IOException("a handshake line longer than " + HANDSHAKE_LINE_CHARS + " characters");
            }
            line.append((char) c);
        }
        return null;
    }

    public BufferedReader in() {
        return in;
    }

    public PrintStream out() {
        return out;
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
