package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options of a node process: which cluster, which node, and m as the launcher chose it. */
final class NodeOptions {
    @Option(names = "--config", required = true, description = "Cluster config file (properties).")
    Path config;

    @Option(names = "--id", required = true, description = "This node's id among the nodes of its role.")
    int id;

    @Option(names = "--micro-batches", description = "m, overriding the config (the launcher passes the one it chose).")
    Integer microBatches;

    @picocli.CommandLine.Mixin
    DeviceOptions device;

    @Option(names = "--gpu-memory-utilization", description = "The most of its GPU's memory this process holds, in (0, 1],"
            + " for nodes that share a GPU (default: the config's <role>.<id>.gpu_memory_utilization, else no share).")
    Double gpuMemoryUtilization;

    /** The cluster file, with this node on --device / --dtype and within --gpu-memory-utilization where given. */
    ClusterConfig load(boolean attentionRole) {
        return ClusterConfigLoader.load(config).withDevice(device.device, device.dtype)
                .withMemoryShare(attentionRole, id, gpuMemoryUtilization);
    }

    /** Checks {@link #id} against the nodes of its role. */
    void checkId(String role, int count) {
        if (id < 0 || id >= count) {
            throw new TandemException("--id " + id + " is not one of the " + count + " " + role + " nodes [0, " + count + ")");
        }
    }

    /** The override, else the config's m; a node cannot measure m on its own, so "auto" needs the launcher. */
    int microBatches(ClusterConfig cluster) {
        int m = microBatches != null ? microBatches : cluster.microBatches();
        if (m < 1 || m > 4) {
            throw new TandemException(microBatches == null && cluster.microBatches() == 0
                    ? "micro_batches = auto needs the launcher (tandem local) to choose m; pass --micro-batches"
                    : "--micro-batches must be in [1, 4], got " + m);
        }
        return m;
    }
}
