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
        DevicePlacement.Group first = p.nextGroup(2, 1);   // experts 0, 1, then attention 0
        DevicePlacement.Group second = p.nextGroup(1, 2);
        assertEquals(List.of("cuda:0", "cuda:1"), List.of(first.expert()));
        assertEquals(List.of("cuda:2"), List.of(first.attention()));
        assertEquals(List.of("cuda:0"), List.of(second.expert()));
        assertEquals(List.of("cuda:1", "cuda:2"), List.of(second.attention()));
        assertEquals("cuda:0", p.next(DevicePlacement.Role.PROMPT));
        assertEquals("cuda:0", p.reset().next(DevicePlacement.Role.EXPERT), "a reset starts the turn over");
    }

    @Test
    void shouldLetARolesOwnListWinAndLeaveUncoveredNodesToTheClusterDevice() {
        DevicePlacement p = parse("--expert-devices", "cuda:1,cpu", "--prompt-devices", "3");
        DevicePlacement.Group g = p.nextGroup(3, 2);
        assertEquals(List.of("cuda:1", "cpu", "cuda:1"), List.of(g.expert()));
        assertEquals(java.util.Arrays.asList(null, null), java.util.Arrays.asList(g.attention()),
                "no list covers attention nodes: they take --device");
        assertEquals("cuda:3", p.next(DevicePlacement.Role.PROMPT));
    }

    @Test
    void shouldRefuseAnEntryThatIsNoDeviceBeforeAnythingStarts() {
        TandemException e = assertThrows(TandemException.class, () -> parse("--devices", "0,gpu1"));
        assertTrue(e.getMessage().contains("gpu1") && e.getMessage().contains("--devices"), e.getMessage());
    }

    @Test
    void shouldWriteEachNodesDeviceIntoTheClusterConfig() {
        DevicePlacement.Group g = parse("--devices", "0,1").nextGroup(2, 1);
        ClusterConfig config = new ClusterConfig(Path.of("/m"), "aeron-ipc", "/dev/shm/x",
                LocalCluster.nodes(1, null), LocalCluster.nodes(2, new int[][] {{0, 1}, {2, 3}}), 1, 64, 128, 1,
                "auto", 1, 1000, ClusterConfig.DEFAULT_STREAM_ID_BASE, 0)
                .withNodeDevices(i -> g.attention()[i], i -> g.expert()[i]);
        String written = ClusterConfigLoader.format(config);
        List<String> lines = new ArrayList<>(written.lines().filter(l -> l.contains(".device")).sorted().toList());
        assertEquals(List.of("attention.0.device=cuda\\:0", "expert.0.device=cuda\\:0", "expert.1.device=cuda\\:1"), lines,
                written);
    }
}
