package dev.tandem.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options that describe a local disaggregated cluster, shared by the commands that start one. */
final class ClusterOptions {
    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory.")
    Path model;

    @Option(names = "--attention-nodes", defaultValue = "1", description = "Attention node processes (default ${DEFAULT-VALUE}).")
    int attentionNodes;

    @Option(names = "--expert-nodes", defaultValue = "1", description = "Expert node processes (default ${DEFAULT-VALUE}).")
    int expertNodes;

    @Option(names = "--micro-batches", description = "m, micro-batches per step (1..4; default: on the CPU chosen from measured Ta, Te, Tc;"
            + " 1 with every node on one GPU, 2 with nodes on several).")
    Integer microBatches;

    @Option(names = "--node-threads", defaultValue = "1", description = "Kernel threads per node (default ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--attention-threads", defaultValue = "0",
            description = "Kernel threads per attention node (default: --node-threads, as expert nodes have).")
    int attentionThreads;

    @Option(names = "--max-batch-tokens", defaultValue = "256", description = "Tokens per micro-batch (default ${DEFAULT-VALUE}).")
    int maxBatchTokens;

    @Option(names = "--wire-dtype", defaultValue = "auto", description = "Activations on the M2N wire: auto (bf16 when"
            + " every node computes in bf16, else fp32), fp32 (exact) or bf16 (half the bytes; default ${DEFAULT-VALUE}).")
    private String wireDtype = "auto";

    /** --wire-dtype, checked. */
    String wireDtype() {
        if (!java.util.List.of("auto", "fp32", "bf16").contains(wireDtype)) {
            throw new IllegalArgumentException("--wire-dtype must be auto, fp32 or bf16, got '" + wireDtype + "'");
        }
        return wireDtype;
    }

    @Option(names = "--transport", defaultValue = "aeron-ipc", description = "The M2N transport between the nodes:"
            + " aeron-ipc (one media driver, shared memory) or aeron-udp (each node at its own 127.0.0.1 port, as nodes on"
            + " other hosts would be; default ${DEFAULT-VALUE}).")
    private String transport = "aeron-ipc";

    /** --transport, checked. */
    String transport() {
        if (!java.util.List.of("aeron-ipc", "aeron-udp").contains(transport)) {
            throw new IllegalArgumentException("--transport must be aeron-ipc or aeron-udp, got '" + transport + "'");
        }
        return transport;
    }

    @Option(names = "--kv-tokens", defaultValue = "8192", description = "KV cache tokens per attention node (default ${DEFAULT-VALUE}).")
    int kvTokens;

    @picocli.CommandLine.Mixin
    DeviceOptions device = new DeviceOptions();

    @picocli.CommandLine.Mixin
    DevicePlacement placement = new DevicePlacement();

    int microBatches() {
        if (microBatches != null) {
            return microBatches;
        }
        java.util.Set<String> devices = new java.util.TreeSet<>();
        for (int i = 0; i < expertNodes + attentionNodes; i++) { // one group's nodes, experts first
            String d = i < expertNodes ? placement.device(DevicePlacement.Role.EXPERT, i, i)
                    : placement.device(DevicePlacement.Role.ATTENTION, i - expertNodes, i);
            devices.add(new dev.tandem.core.compute.BackendSpec(d != null ? d : device.device, null, 0).resolvedDevice());
        }
        return MicroBatchPlanner.choose(model, attentionNodes, expertNodes, devices);
    }

    LocalCluster start() {
        String wire = wireDtype();
        String via = transport();
        if (microBatches != null && (microBatches < 1 || microBatches > 4)) {
            throw new IllegalArgumentException("--micro-batches must be in [1, 4], got " + microBatches);
        }
        int m = microBatches();
        microBatches = m;
        placement.check();
        return new LocalCluster(new LocalCluster.Options(model, attentionNodes, expertNodes, m, threads, maxBatchTokens,
                kvTokens, attentionThreads, device.device, device.dtype, wire, placement, via));
    }
}
