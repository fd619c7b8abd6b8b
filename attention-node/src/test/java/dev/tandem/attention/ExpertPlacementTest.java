package dev.tandem.attention;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Expert placement from a cluster file checked against the model: an expert id the model does not
 * have, or an expert that no node holds, is named with the config key; replicas share the rows.
 */
class ExpertPlacementTest {
    private static final int EXPERTS = 8;

    @TempDir
    Path temp;

    @Test
    void shouldNameTheFieldHoldingAnExpertBeyondTheModels() throws IOException {
        ClusterConfig cluster = load("0-3", "4-8");

        String message = assertThrows(TandemException.class, () -> new ExpertPlacement(cluster, EXPERTS)).getMessage();

        assertEquals("cluster config: expert.1.experts holds expert 8 but the model has 8 experts [0, 8)", message);
    }

    @Test
    void shouldNameAnExpertNoNodeHolds() throws IOException {
        ClusterConfig cluster = load("0-3", "4,6,7");

        String message = assertThrows(TandemException.class, () -> new ExpertPlacement(cluster, EXPERTS)).getMessage();

        assertEquals("cluster config: no expert node holds expert 5 (every expert of the model must be in some "
                + "expert.N.experts)", message);
    }

    @Test
    void shouldSendEachRowOfAReplicatedExpertToTheLessLoadedReplica() throws IOException {
        ExpertPlacement placement = new ExpertPlacement(load("0-4", "3-7"), EXPERTS);

        assertEquals(0, placement.pick(0, new int[] {5, 0}), "expert 0 lives on node 0 only");
        assertEquals(1, placement.pick(7, new int[] {0, 5}), "expert 7 lives on node 1 only");
        assertEquals(1, placement.pick(3, new int[] {2, 1}), "expert 3 on both: node 1 has fewer rows");
        assertEquals(0, placement.pick(4, new int[] {1, 2}), "expert 4 on both: node 0 has fewer rows");
        assertEquals(0, placement.pick(4, new int[] {2, 2}), "a tie goes to the first holder");
    }

    private ClusterConfig load(String experts0, String experts1) throws IOException {
        Path file = temp.resolve("cluster.properties");
        Files.writeString(file, """
                model = /models/m
                attention.nodes = 1
                expert.nodes = 2
                expert.0.experts = %s
                expert.1.experts = %s
                """.formatted(experts0, experts1));
        return ClusterConfigLoader.load(file);
    }
}
