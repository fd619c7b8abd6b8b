package dev.tandem.cli;

import dev.tandem.core.cluster.ClusterConfigLoader;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * What a {@link LocalCluster} started, seen from outside it: its node processes (this JVM's
 * children, recognised by their command line), its directory and its media driver's directory
 * (from the cluster file the nodes were given), and the check that close left none of them.
 */
final class ClusterProcesses {
    private ClusterProcesses() {
    }

    /** The node process {@code role} ("expert-node", "attention-node") with {@code --id id}. */
    static ProcessHandle node(String role, int id) {
        return ProcessHandle.current().children()
                .filter(p -> {
                    List<String> args = arguments(p);
                    int i = args.indexOf("--id");
                    return args.contains(role) && i >= 0 && i + 1 < args.size() && args.get(i + 1).equals(Integer.toString(id));
                })
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + role + " " + id + " among " + nodes()));
    }

    /** "expert-node 1" and the like, from the command line. */
    static String describe(ProcessHandle p) {
        List<String> args = arguments(p);
        int i = args.indexOf("--id");
        String role = args.contains("expert-node") ? "expert-node" : args.contains("attention-node") ? "attention-node" : "?";
        return role + " " + (i >= 0 && i + 1 < args.size() ? args.get(i + 1) : "?") + " (pid " + p.pid() + ")";
    }

    /** Every node process of this JVM's clusters. */
    static List<ProcessHandle> nodes() {
        return ProcessHandle.current().descendants()
                .filter(p -> arguments(p).contains(TandemCommand.class.getName()))
                .toList();
    }

    /** The cluster file that the running nodes were given. */
    static Path clusterFile() {
        List<String> args = arguments(node("expert-node", 0));
        return Path.of(args.get(args.indexOf("--config") + 1));
    }

    static Path aeronDirectory(Path clusterFile) {
        return Path.of(ClusterConfigLoader.load(clusterFile).aeronDirectory());
    }

    /** No node process, no cluster directory, no driver directory left, no result reader still running. */
    static void assertNothingLeft(List<ProcessHandle> started, Path workDir, Path aeronDirectory) throws InterruptedException {
        assertEquals(List.of(), started.stream().filter(ProcessHandle::isAlive).toList(), "node processes alive");
        assertEquals(List.of(), nodes(), "node processes alive");
        assertFalse(Files.exists(workDir), "cluster directory left: " + workDir);
        assertFalse(Files.exists(aeronDirectory), "driver directory left: " + aeronDirectory);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!resultReaders().isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50); // they end when the processes' stdout reaches end of file
        }
        assertEquals(List.of(), resultReaders(), "result reader threads alive");
    }

    private static List<String> resultReaders() {
        return Thread.getAllStackTraces().keySet().stream()
                .map(Thread::getName)
                .filter(n -> n.startsWith("attention-") && n.endsWith("-results"))
                .toList();
    }

    /**
     * The process's command line from /proc: ProcessHandle.Info reads only its first 4 KiB and
     * then gives no arguments at all, and a surefire classpath is longer than that.
     */
    static List<String> arguments(ProcessHandle p) {
        try {
            String cmdline = new String(Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline")),
                    StandardCharsets.UTF_8);
            return List.of(cmdline.split("\0"));
        } catch (IOException e) {
            return List.of(); // gone, or not Linux
        }
    }
}
