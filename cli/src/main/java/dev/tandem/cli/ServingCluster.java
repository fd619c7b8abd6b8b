package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.scheduler.cluster.ClusterEngine;
import dev.tandem.scheduler.cluster.NodeLink;
import dev.tandem.scheduler.engine.ServedModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Splitwise cluster on this host, every node its own OS process: {@code P} prompt machines
 * (colocated) and {@code G} token groups, each an AFD group of {@code A} attention nodes (the
 * token machines) and {@code E} expert nodes, all on one media driver (over aeron-udp each node at a
 * 127.0.0.1 port of its own, its M2N and KV traffic in datagrams). The scheduler's
 * {@link ClusterEngine} runs in this process and talks to the prompt and attention nodes over
 * their pipes; KV caches go from prompt to token machines over Aeron, stream
 * {@code KV_STREAM_BASE + token machine}. A token group whose node process dies is restarted under
 * the next epoch and its machines rejoin the scheduler.
 */
final class ServingCluster implements AutoCloseable {
    static final int KV_STREAM_BASE = 0x7000;
    private static final int GROUP_STREAM_SPACING = 1024;

    /**
     * @param device every node's device (null: auto); @param dtype likewise; @param wireDtype auto, fp32 or bf16
     * @param placement per-node devices (--devices and the per-role lists); null: every node on {@code device}
     * @param transport "aeron-ipc" or "aeron-udp" (see {@link LocalCluster.Options})
     */
    record Options(Path model, String name, int promptNodes, int tokenGroups, int attentionNodes, int expertNodes,
                   int microBatches, int threads, int maxBatchTokens, int kvTokens, long mixedThresholdTokens,
                   int maxQueued, String device, String dtype, String wireDtype, DevicePlacement placement,
                   String transport) {
        Options(Path model, String name, int promptNodes, int tokenGroups, int attentionNodes, int expertNodes,
                int microBatches, int threads, int maxBatchTokens, int kvTokens, long mixedThresholdTokens, int maxQueued) {
            this(model, name, promptNodes, tokenGroups, attentionNodes, expertNodes, microBatches, threads,
                    maxBatchTokens, kvTokens, mixedThresholdTokens, maxQueued, null, null, "auto", null, "aeron-ipc");
        }

        boolean udp() {
            return "aeron-udp".equals(transport);
        }
    }

    private final NodeProcesses processes;
    private final List<String> kvChannels = new ArrayList<>(); // where each token machine receives KV
    private static final int MAX_GROUP_RESTARTS = 3;
    private final ClusterEngine engine;
    private volatile ClusterEngine watched; // the engine the node watchers report to, once it exists

    ServingCluster(Options o) {
        if (o.promptNodes() < 0 || o.tokenGroups() < 0 || o.promptNodes() + o.tokenGroups() == 0) {
            throw new TandemException("a serving cluster needs prompt nodes or token groups (got --prompt-nodes "
                    + o.promptNodes() + ", --token-groups " + o.tokenGroups() + ")");
        }
        if (o.tokenGroups() > 0 && (o.attentionNodes() < 1 || o.expertNodes() < 1)) {
            throw new TandemException("a token group needs at least one attention node and one expert node");
        }
        ModelConfig model = ModelConfigLoader.load(o.model());
        processes = new NodeProcesses();
        try {
            List<NodeLink> tokenLinks = new ArrayList<>();
            for (int g = 0; g < o.tokenGroups(); g++) {
                startGroup(o, g, tokenLinks);
            }
            List<NodeLink> promptLinks = new ArrayList<>();
            for (int i = 0; i < o.promptNodes(); i++) {
                String name = "prompt-node-" + i;
                List<String> args = new ArrayList<>(List.of("prompt-node", "--model", o.model().toAbsolutePath().toString(),
                        "--id", Integer.toString(i), "--aeron-dir", processes.aeronDirectory(),
                        "--kv-stream-base", Integer.toString(KV_STREAM_BASE), "--kv-channels", String.join(",", kvChannels),
                        "--threads", Integer.toString(o.threads()),
                        "--max-batch-tokens", Integer.toString(o.maxBatchTokens()),
                        "--kv-tokens", Integer.toString(o.kvTokens())));
                String placed = o.placement() == null ? null
                        : o.placement().promptMachine(i, o.tokenGroups() * (o.expertNodes() + o.attentionNodes()));
                args.addAll(DeviceOptions.arguments(placed != null ? placed : o.device(), o.dtype()));
                Process p = processes.start(name, args);
                promptLinks.add(new NodeLink(name, p.getInputStream(), p.getOutputStream()).withHeartbeats());
            }
            long[] promptKv = new long[promptLinks.size()];
            long[] tokenKv = new long[tokenLinks.size()];
            Arrays.fill(promptKv, o.kvTokens());
            Arrays.fill(tokenKv, o.kvTokens());
            engine = new ClusterEngine(new ServedModel(o.name(), model.maxPositions(), model.vocabSize(),
                    model.eosTokenIds()), promptLinks, promptKv, tokenLinks, tokenKv, o.mixedThresholdTokens(),
                    o.maxQueued());
            watched = engine;
        } catch (IOException | RuntimeException e) {
            processes.close();
            throw e instanceof TandemException t ? t : new TandemException("cannot start the cluster: " + e.getMessage(), e);
        }
    }

    /** Starts group {@code g}'s expert nodes, then its attention nodes, whose links join {@code tokenLinks}. */
    private void startGroup(Options o, int g, List<NodeLink> tokenLinks) throws IOException {
        List<ClusterConfig.Node> attention = LocalCluster.nodes(o.attentionNodes(), null);
        List<ClusterConfig.Node> experts = LocalCluster.expertPlacement(o.model(), o.expertNodes());
        ClusterConfig config = new ClusterConfig(o.model().toAbsolutePath(), o.transport(), processes.aeronDirectory(),
                LocalCluster.endpointsFor(o.transport(), attention), LocalCluster.endpointsFor(o.transport(), experts),
                o.microBatches(), o.maxBatchTokens(), o.kvTokens(), o.threads(), o.wireDtype(), 1, 120_000,
                ClusterConfig.DEFAULT_STREAM_ID_BASE + g * GROUP_STREAM_SPACING, 0).withDevice(o.device(), o.dtype());
        if (o.placement() != null) {
            config = o.placement().place(config, g);
        }
        int[] machines = new int[o.attentionNodes()];
        List<ClusterConfig.Node> kvPorts = o.udp() ? LocalCluster.onLoopbackPorts(attention) : null; // KV's own ports
        List<String> groupKvChannels = new ArrayList<>();
        for (int i = 0; i < machines.length; i++) {
            machines[i] = tokenLinks.size() + i;
            groupKvChannels.add(kvPorts == null ? "aeron:ipc" : "aeron:udp?endpoint=" + kvPorts.get(i).endpoint());
        }
        kvChannels.addAll(groupKvChannels);
        Group group = new Group(g, config, machines, groupKvChannels);
        tokenLinks.addAll(launch(o, group));
    }

    /**
     * A token group as the launcher runs it: its config (the epoch grows with each restart), the
     * token machines its attention nodes are, where they receive KV, and its processes now.
     */
    private static final class Group {
        final int index;
        final int[] machines;
        final List<String> kvChannels;
        ClusterConfig config;
        int generation;   // processes of an older generation exiting are the restart's own doing
        int restarts;
        final List<Process> processes = new ArrayList<>();

        Group(int index, ClusterConfig config, int[] machines, List<String> kvChannels) {
            this.index = index;
            this.config = config;
            this.machines = machines;
            this.kvChannels = kvChannels;
        }
    }

    /** Starts the group's expert nodes, then its attention nodes; returns their links. */
    private List<NodeLink> launch(Options o, Group group) throws IOException {
        int g = group.index;
        int generation = group.generation;
        Path file = processes.workDir().resolve("group-" + g + (generation == 0 ? "" : "-epoch-" + group.config.epoch())
                + ".properties");
        Files.writeString(file, ClusterConfigLoader.format(group.config));
        List<String> common = List.of("--config", file.toString(), "--micro-batches", Integer.toString(o.microBatches()));
        String suffix = generation == 0 ? "" : "-restart-" + generation;
        group.processes.clear();
        for (int i = 0; i < o.expertNodes(); i++) {
            List<String> args = new ArrayList<>(List.of("expert-node", "--id", Integer.toString(i)));
            args.addAll(common);
            String name = "group-" + g + "-expert-node-" + i + suffix;
            Process p = processes.start(name, args);
            group.processes.add(p);
            // the group cannot take a step without it: its token machines are lost now, not when Aeron
            // gives the peer up (the image's liveness timeout, ten seconds), and the group restarts
            p.onExit().thenRun(() -> nodeExited(o, group, generation, p.exitValue(), exitReason(name, p)));
        }
        List<NodeLink> links = new ArrayList<>();
        for (int i = 0; i < o.attentionNodes(); i++) {
            String name = "group-" + g + "-attention-node-" + i + suffix;
            List<String> args = new ArrayList<>(List.of("attention-node", "--id", Integer.toString(i),
                    "--kv-stream", Integer.toString(KV_STREAM_BASE + group.machines[i]), "--kv-channel",
                    group.kvChannels.get(i)));
            args.addAll(common);
            Process p = processes.start(name, args);
            group.processes.add(p);
            links.add(new NodeLink(name, p.getInputStream(), p.getOutputStream()).withHeartbeats());
            p.onExit().thenRun(() -> nodeExited(o, group, generation, p.exitValue(), exitReason(name, p)));
        }
        return links;
    }

    /** "NAME exited with code C", and the end of its log where it failed by itself (not killed). */
    private String exitReason(String name, Process p) {
        int code = p.exitValue();
        return name + " exited with code " + code + (code == 137 || code == 143 ? "" : ":\n  " + processes.logTail(name));
    }

    /**
     * One of the group's node processes is gone: its token machines are lost at once (their requests
     * move), then the group starts again under the next epoch, its other processes stopped first,
     * and its machines rejoin; after {@value #MAX_GROUP_RESTARTS} restarts it stays down. (A node
     * that hangs without exiting is lost by its heartbeats and not restarted: it may yet answer.)
     */
    private void nodeExited(Options o, Group group, int generation, int exitCode, String reason) {
        ClusterEngine e = watched;
        if (e == null || processes.closing() || exitCode == 0) {
            return; // 0: its input ended, the cluster is stopping
        }
        synchronized (group) {
            if (generation != group.generation) {
                return; // stopped by the restart below
            }
            e.tokenMachinesLost(group.machines, reason);
            if (group.restarts == MAX_GROUP_RESTARTS) {
                System.err.println("tandem: group " + group.index + " restarted " + MAX_GROUP_RESTARTS
                        + " times already; it stays down");
                return;
            }
            group.restarts++;
            group.generation++;
            group.config = group.config.withEpoch(group.config.epoch() + 1);
            for (Process p : group.processes) {
                p.destroyForcibly();
            }
            for (Process p : group.processes) {
                try {
                    p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            System.err.println("tandem: restarting group " + group.index + " under epoch " + group.config.epoch()
                    + " (" + reason + ")");
            try {
                e.tokenMachinesRejoined(group.machines, launch(o, group));
                System.err.println("tandem: group " + group.index + " is back");
            } catch (IOException | RuntimeException failed) {
                System.err.println("tandem: group " + group.index + " could not restart: " + failed.getMessage());
            }
        }
    }

    ClusterEngine engine() {
        return engine;
    }

    Path workDir() {
        return processes.workDir();
    }

    String aeronDirectory() {
        return processes.aeronDirectory();
    }

    /** Fails what is in flight, then stops every node and deletes the cluster's files. */
    @Override
    public void close() {
        engine.close();
        processes.close();
    }
}
