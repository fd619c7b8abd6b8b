package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.transport.AeronDirectories;
import dev.tandem.transport.ClusterTransport;
import io.aeron.driver.MediaDriver;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The node processes of a cluster on this host, and what they share: a work directory for
 * config files and logs, and one Aeron media driver. Each node is a child JVM with this one's
 * flags; its stderr goes to {@code <name>.log}. {@link #close} stops them all (closing their
 * input first, so that they finish cleanly), kills what outlives the timeout, and deletes the
 * directory and the driver's files; a shutdown hook does the same on Ctrl-C.
 */
final class NodeProcesses implements AutoCloseable {
    private static final long STOP_TIMEOUT_MS = 20_000;

    private final Path workDir;
    private final MediaDriver driver;
    private final List<Process> processes = new ArrayList<>();
    private final Thread shutdownHook = new Thread(this::close, "tandem-local-cluster-stop");
    private volatile boolean closing;

    NodeProcesses() {
        try {
            workDir = Files.createTempDirectory("tandem-cluster-");
        } catch (IOException e) {
            throw new TandemException("cannot create a directory for the cluster: " + e.getMessage(), e);
        }
        MediaDriver launched;
        try {
            launched = ClusterTransport.launchSharedDriver();
        } catch (RuntimeException e) {
            AeronDirectories.deleteTree(workDir);
            throw e;
        }
        driver = launched;
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    Path workDir() {
        return workDir;
    }

    String aeronDirectory() {
        return driver.aeronDirectoryName();
    }

    boolean closing() {
        return closing;
    }

    /**
     * {@code tandem} as this JVM runs it (its java, flags but heap size and agents, classpath), with
     * {@code jvmFlags} added; the subcommand and its arguments go after it.
     */
    static List<String> tandemCommand(List<String> jvmFlags) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-Xmx") && !arg.startsWith("-agentlib") && !arg.startsWith("-javaagent")) {
                command.add(arg);
            }
        }
        command.addAll(jvmFlags);
        command.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"), TandemCommand.class.getName()));
        return command;
    }

    /** Starts {@code tandem <args>} as node {@code name}, e.g. "attention-node-0". */
    synchronized Process start(String name, List<String> args) throws IOException {
        if (closing) {
            throw new TandemException("the cluster is stopping");
        }
        List<String> command = tandemCommand(List.of());
        command.addAll(args);
        Process p = new ProcessBuilder(command).redirectError(workDir.resolve(name + ".log").toFile()).start();
        processes.add(p);
        return p;
    }

    /** The last lines of node {@code name}'s log, for error messages. */
    String logTail(String name) {
        try {
            List<String> lines = Files.readAllLines(workDir.resolve(name + ".log"));
            return String.join("\n  ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        List<Process> all;
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
            all = List.copyOf(processes);
        }
        for (Process p : all) {
            try {
                p.getOutputStream().close(); // a node stops when its input ends
            } catch (IOException e) {
                // already gone
            }
        }
        long deadline = System.currentTimeMillis() + STOP_TIMEOUT_MS;
        for (Process p : all) {
            try {
                if (!p.waitFor(Math.max(1, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS)) {
                    p.destroy();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Process p : all) {
            try {
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
        driver.close();
        AeronDirectories.deleteTree(workDir);
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
            // already shutting down: this is the hook
        }
    }


}
