package dev.tandem.attention;

import dev.tandem.core.TandemException;

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
 * connects once, and the node serves that connection until the scheduler closes it.
 */
public final class SchedulerConnection implements AutoCloseable {
    private final Socket socket;
    private final BufferedReader in;
    private final PrintStream out;

    private SchedulerConnection(Socket socket) throws IOException {
        this.socket = socket;
        socket.setTcpNoDelay(true); // token lines are small and latency-bound
        this.in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        this.out = new PrintStream(socket.getOutputStream(), false, StandardCharsets.UTF_8);
    }

    /**
     * Listens on {@code hostPort} ("host:port", port 0 for any free one), writes the bound port to
     * {@code portFile} if given, and waits for the scheduler.
     */
    public static SchedulerConnection accept(String hostPort, Path portFile) {
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) {
            throw new TandemException("--listen '" + hostPort + "' is not host:port");
        }
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(hostPort.substring(0, colon),
                    Integer.parseInt(hostPort.substring(colon + 1))));
            if (portFile != null) {
                Files.writeString(portFile, Integer.toString(server.getLocalPort()));
            }
            System.err.println("tandem: waiting for the scheduler on " + hostPort.substring(0, colon) + ":"
                    + server.getLocalPort());
            return new SchedulerConnection(server.accept());
        } catch (IOException | NumberFormatException e) {
            throw new TandemException("cannot listen on " + hostPort + ": " + e.getMessage(), e);
        }
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
