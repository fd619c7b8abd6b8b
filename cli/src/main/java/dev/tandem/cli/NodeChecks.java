package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;

/** Checks shared by the node commands. */
final class NodeChecks {
    private NodeChecks() {
    }

    static void checkId(String role, int id, int count) {
        if (id < 0 || id >= count) {
            throw new TandemException("--id " + id + " is not one of the " + count + " " + role + " nodes [0, " + count + ")");
        }
    }

    /** The override, else the config's m; a node cannot measure m on its own, so "auto" needs the launcher. */
    static int microBatches(ClusterConfig cluster, Integer override) {
        int m = override != null ? override : cluster.microBatches();
        if (m < 1 || m > 4) {
            throw new TandemException(override == null && cluster.microBatches() == 0
                    ? "micro_batches = auto needs the launcher (tandem local) to choose m; pass --micro-batches"
                    : "--micro-batches must be in [1, 4], got " + m);
        }
        return m;
    }
}
