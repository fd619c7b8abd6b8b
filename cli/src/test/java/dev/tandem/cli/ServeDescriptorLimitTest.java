package dev.tandem.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code tandem serve} under a small descriptor limit ({@code prlimit --nofile=200}): clients hold
 * more connections than it has descriptors, so accepting fails with EMFILE. Once they let go,
 * {@code /health} answers again, and SIGTERM still stops the server.
 */
class ServeDescriptorLimitTest {
    private static final int DESCRIPTORS = 200;
    private static final int CONNECTIONS = 400;

    @TempDir
    Path temp;

    @Test
    void shouldSurviveRunningOutOfDescriptorsAndRecoverOnceTheyAreFree() throws Exception {
        Path prlimit = Path.of("/usr/bin/prlimit");
        Assumptions.assumeTrue(Files.isExecutable(prlimit), "prlimit (util-linux) is not installed");
        Path portFile = temp.resolve("port");
        List<String> command = new ArrayList<>(List.of(prlimit.toString(), "--nofile=" + DESCRIPTORS + ":" + DESCRIPTORS,
                ProcessHandle.current().info().command().orElseThrow()));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-Xmx") && !arg.startsWith("-agentlib") && !arg.startsWith("-javaagent")) {
                command.add(arg);
            }
        }
        command.addAll(List.of("-Xmx512m", "-cp", System.getProperty("java.class.path"), TandemCommand.class.getName(),
                "serve", CliFixtures.fixture("mixtral-tiny").toString(), "--port", "0", "--port-file",
                portFile.toString()));
        Process server = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(temp.resolve("serve.log").toFile()).start();
        List<Socket> held = new ArrayList<>();
        try {
            int port = awaitPort(portFile, server);
            for (int i = 0; i < CONNECTIONS; i++) {
                Socket s = new Socket();
                s.connect(new InetSocketAddress("127.0.0.1", port), 2_000); // the backlog takes them
                held.add(s);
            }
            Thread.sleep(1_000); // the server tries to accept, and runs out of descriptors
            for (Socket s : held) {
                s.close();
            }
            held.clear();
            assertEquals(200, awaitHealth(port, Duration.ofSeconds(20)), log());
            assertTrue(server.isAlive(), "the server is still running: " + log());
            server.destroy(); // SIGTERM
            assertTrue(server.waitFor(30, TimeUnit.SECONDS), "SIGTERM stopped the server: " + log());
        } finally {
            for (Socket s : held) {
                s.close();
            }
            server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static int awaitPort(Path portFile, Process server) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (Files.isRegularFile(portFile)) {
                return Integer.parseInt(Files.readString(portFile).trim());
            }
            if (!server.isAlive()) {
                throw new AssertionError("the server exited with " + server.exitValue());
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no port file within 60 s");
    }

    /** The first status /health answers within {@code limit}, or -1. */
    private static int awaitHealth(int port, Duration limit) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
            while (System.nanoTime() < deadline) {
                try {
                    return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                            .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                } catch (IOException notYet) {
                    Thread.sleep(200);
                }
            }
        }
        return -1;
    }

    private String log() {
        try {
            return Files.readString(temp.resolve("serve.log"));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
