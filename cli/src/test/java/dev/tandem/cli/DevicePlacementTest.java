package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.cluster.ClusterConfigLoader;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --devices round-robin in start order, per-role lists first, bare ordinals as CUDA devices, bad entries named. */
class DevicePlacementTest {
    private static DevicePlacement parse(String... args) {
        DevicePlacement placement = new DevicePlacement();
        new CommandLine(placement).parseArgs(args);
        placement.check();
        return placement;
    }

    @Test
    void shouldHandDevicesOutInStartOrderAcrossGroupsThenPromptMachines() {
        DevicePlacement p = parse("--devices", "0,1,2");
        ClusterConfig first = p.place(config(2, 1), 0);    // experts 0, 1, then attention 0
        ClusterConfig second = p.place(config(2, 1), 1);   // then the second group's
        assertEquals(List.of("cuda:0", "cuda:1"), devices(first.expertNodes()));
        assertEquals(List.of("cuda:2"), devices(first.attentionNodes()));
        assertEquals(List.of("cuda:0", "cuda:1"), devices(second.expertNodes()));
        assertEquals(List.of("cuda:2"), devices(second.attentionNodes()));
        assertEquals("cuda:0", p.promptMachine(0, 6), "after the two groups' six nodes");
        assertEquals("cuda:0", p.device(DevicePlacement.Role.EXPERT, 0, 0), "the same node, the same device");
    }

    @Test
    void shouldLetARolesOwnListWinAndLeaveUncoveredNodesToTheClusterDevice() {
        DevicePlacement p = parse("--expert-devices", "cuda:1,cpu", "--prompt-devices", "3");
        ClusterConfig g = p.place(config(3, 2), 0);
        assertEquals(List.of("cuda:1", "cpu", "cuda:1"), devices(g.expertNodes()));
        assertEquals(java.util.Arrays.asList(null, null), devices(g.attentionNodes()),
                "no list covers attention nodes: they take --device");
        assertEquals("cuda:3", p.promptMachine(0, 5));
    }

    @Test
    void shouldRefuseAnEntryThatIsNoDeviceBeforeAnythingStarts() {
        TandemException e = assertThrows(TandemException.class, () -> parse("--devices", "0,gpu1"));
        assertTrue(e.getMessage().contains("gpu1") && e.getMessage().contains("--devices"), e.getMessage());
    }

    @Test
    void shouldWriteEachNodesDeviceIntoTheClusterConfig() {
        ClusterConfig config = parse("--devices", "0,1").place(config(2, 1), 0);
        String written = ClusterConfigLoader.format(config);
        List<String> lines = new ArrayList<>(written.lines().filter(l -> l.contains(".device")).sorted().toList());
        assertEquals(List.of("attention.0.device=cuda\\:0", "expert.0.device=cuda\\:0", "expert.1.device=cuda\\:1"), lines,
                written);
    }

    /** A group of {@code experts} expert nodes and {@code attentionNodes} attention nodes on no particular device. */
    private static ClusterConfig config(int experts, int attentionNodes) {
        int[][] held = new int[experts][];
        for (int i = 0; i < experts; i++) {
            held[i] = new int[] {i};
        }
        return new ClusterConfig(Path.of("/m"), "aeron-ipc", "/dev/shm/x", LocalCluster.nodes(attentionNodes, null),
                LocalCluster.nodes(experts, held), 1, 64, 128, 1, "auto", 1, 1000, ClusterConfig.DEFAULT_STREAM_ID_BASE, 0);
    }

    private static List<String> devices(List<ClusterConfig.Node> nodes) {
        return nodes.stream().map(ClusterConfig.Node::device).collect(java.util.stream.Collectors.toList());
    }
}
