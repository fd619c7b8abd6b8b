package dev.tandem.attention;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Which expert nodes hold which experts. An expert held by several nodes is replicated: each
 * token goes to the replica with the fewest rows so far in its micro-batch.
 */
final class ExpertPlacement {
    private final int[][] nodesOf; // (expert) the nodes holding it

    ExpertPlacement(ClusterConfig cluster, int experts) {
        List<List<Integer>> holders = new ArrayList<>();
        for (int e = 0; e < experts; e++) {
            holders.add(new ArrayList<>());
        }
        for (ClusterConfig.Node node : cluster.expertNodes()) {
            for (int e : node.experts()) {
                if (e >= experts) {
                    throw new TandemException("cluster config: expert." + node.id() + ".experts holds expert " + e
                            + " but the model has " + experts + " experts [0, " + experts + ")");
                }
                holders.get(e).add(node.id());
            }
        }
        nodesOf = new int[experts][];
        for (int e = 0; e < experts; e++) {
            if (holders.get(e).isEmpty()) {
                throw new TandemException("cluster config: no expert node holds expert " + e
                        + " (every expert of the model must be in some expert.N.experts)");
            }
            nodesOf[e] = holders.get(e).stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /** The node for one more row of {@code expert}, given the rows each node has so far. */
    int pick(int expert, int[] rowsPerNode) {
        int[] nodes = nodesOf[expert];
        int best = nodes[0];
        for (int i = 1; i < nodes.length; i++) {
            if (rowsPerNode[nodes[i]] < rowsPerNode[best]) {
                best = nodes[i];
            }
        }
        return best;
    }
}
