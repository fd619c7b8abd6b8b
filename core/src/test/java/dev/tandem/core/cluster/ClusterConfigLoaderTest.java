package dev.tandem.core.cluster;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cluster file: what {@code format} writes {@code load} reads back; bad fields are named with the file. */
class ClusterConfigLoaderTest {
    private static final String MINIMAL = """
            model = /models/m
            attention.nodes = 1
            expert.nodes = 2
            expert.0.experts = 0-3
            expert.1.experts = 4-7
            """;

    @TempDir
    Path temp;

    @Test
    void shouldLoadWhatFormatWrote() throws IOException {
        ClusterConfig config = new ClusterConfig(Path.of("/models/mixtral"), "aeron-udp", "/dev/shm/tandem-test",
                List.of(new ClusterConfig.Node(0, "10.0.0.1:40100", new int[0]),
                        new ClusterConfig.Node(1, "10.0.0.2:40100", new int[0])),
                List.of(new ClusterConfig.Node(0, "10.0.0.3:40200", new int[] {0, 1, 2, 3, 6}),
                        new ClusterConfig.Node(1, "10.0.0.4:40200", new int[] {4, 5, 6, 7})),
                3, 128, 4096, 2, "bf16", 7, 30_000, 0x4000, 6);

        ClusterConfig loaded = roundTrip(config);

        assertEquals(config.model(), loaded.model());
        assertEquals(config.transport(), loaded.transport());
        assertEquals(config.aeronDirectory(), loaded.aeronDirectory());
        assertNodesEqual(config.attentionNodes(), loaded.attentionNodes());
        assertNodesEqual(config.expertNodes(), loaded.expertNodes());
        assertEquals(config.microBatches(), loaded.microBatches());
        assertEquals(config.maxBatchTokens(), loaded.maxBatchTokens());
        assertEquals(config.kvTokens(), loaded.kvTokens());
        assertEquals(config.threadsPerNode(), loaded.threadsPerNode());
        assertEquals(config.wireDtype(), loaded.wireDtype());
        assertEquals(config.epoch(), loaded.epoch());
        assertEquals(config.receiveTimeoutMs(), loaded.receiveTimeoutMs());
        assertEquals(config.streamIdBase(), loaded.streamIdBase());
        assertEquals(6, loaded.attentionNodeThreads());
    }

    @Test
    void shouldRoundTripAutoMicroBatchesAndNoSharedDriver() throws IOException {
        ClusterConfig config = new ClusterConfig(Path.of("/models/dbrx"), "aeron-ipc", null,
                List.of(new ClusterConfig.Node(0, "ipc", new int[0])),
                List.of(new ClusterConfig.Node(0, "ipc", new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})),
                0, 256, 8192, 1, "fp32", 1, 120_000, ClusterConfig.DEFAULT_STREAM_ID_BASE, 0);

        ClusterConfig loaded = roundTrip(config);

        assertEquals(0, loaded.microBatches());
        assertNull(loaded.aeronDirectory());
        assertNodesEqual(config.expertNodes(), loaded.expertNodes());
    }

    @Test
    void shouldApplyDefaultsAndResolveTheModelAgainstTheFilesDirectory() throws IOException {
        ClusterConfig c = ClusterConfigLoader.load(write(MINIMAL.replace("/models/m", "models/m")));

        assertEquals(temp.resolve("models/m"), c.model());
        assertEquals("aeron-ipc", c.transport());
        assertNull(c.aeronDirectory());
        assertEquals(0, c.microBatches(), "micro_batches defaults to auto");
        assertEquals(256, c.maxBatchTokens());
        assertEquals(8192, c.kvTokens());
        assertEquals(1, c.threadsPerNode());
        assertEquals("auto", c.wireDtype());
        assertEquals("fp32", c.resolvedWireDtype(), "auto on the CPU: the exact float32");
        assertEquals(1, c.epoch());
        assertEquals(120_000, c.receiveTimeoutMs());
        assertEquals("ipc", c.attentionNodes().getFirst().endpoint());
        assertArrayEquals(new int[] {4, 5, 6, 7}, c.expertNodes().get(1).experts());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "0-3,6         | 0,1,2,3,6",
            " 0 - 2 , 5   | 0,1,2,5",
            "6,0-3,2      | 0,1,2,3,6",
            "7            | 7",
            "3-3          | 3"})
    void shouldParseExpertRangesAndLists(String spec, String expected) throws IOException {
        Path file = write(MINIMAL.replace("expert.0.experts = 0-3", "expert.0.experts = " + spec));

        int[] experts = ClusterConfigLoader.load(file).expertNodes().getFirst().experts();

        assertArrayEquals(java.util.Arrays.stream(expected.split(",")).mapToInt(Integer::parseInt).toArray(), experts);
    }

    @ParameterizedTest
    @ValueSource(strings = {"3-1", "a", "0-3,,6", "1-", "-1", "0-x", "0-3;6", "0-2147483647", "99999999999"})
    void shouldRejectBadExpertRangesNamingTheField(String spec) throws IOException {
        Path file = write(MINIMAL.replace("expert.1.experts = 4-7", "expert.1.experts = " + spec));

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(file)).getMessage();

        assertTrue(message.startsWith(file + ": expert.1.experts: '"), message);
        assertTrue(message.contains("is not an expert id or range like 0-3"), message);
    }

    @ParameterizedTest
    @ValueSource(strings = {"model", "attention.nodes", "expert.nodes", "expert.1.experts"})
    void shouldNameAMissingField(String key) throws IOException {
        String text = MINIMAL.lines().filter(l -> !l.startsWith(key + " ")).reduce("", (a, b) -> a + b + "\n");
        Path file = write(text);

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(file)).getMessage();

        assertEquals(file + ": missing '" + key + "'", message);
    }

    @Test
    void shouldTreatABlankValueAsMissing() throws IOException {
        Path file = write(MINIMAL.replace("expert.0.experts = 0-3", "expert.0.experts =   "));

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(file)).getMessage();

        assertEquals(file + ": missing 'expert.0.experts'", message);
    }

    @ParameterizedTest
    @ValueSource(strings = {"udp", "aeron", "TCP", "aeron-ipc2"})
    void shouldRejectAnUnknownTransportNamingIt(String transport) throws IOException {
        Path file = write(MINIMAL + "transport = " + transport + "\n");

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(file)).getMessage();

        assertEquals(file + ": transport '" + transport + "' is not aeron-ipc, aeron-udp or tcp", message);
    }

    @Test
    void shouldRejectAnUnknownWireDtypeNamingIt() throws IOException {
        Path file = write(MINIMAL + "wire_dtype = fp16\n");

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(file)).getMessage();

        assertEquals(file + ": wire_dtype 'fp16' is not auto, fp32 or bf16", message);
    }

    @ParameterizedTest
    @CsvSource({
            "micro_batches, 5, '[1, 4]'",
            "micro_batches, two, '[1, 4]'",
            "attention.nodes, 0, '[1, 512]'",
            "max_batch_tokens, -1, '[1, 1048576]'",
            "threads, 1.5, '[1, 1024]'",
            "receive_timeout_ms, 0, '[1, 2147483647]'"})
    void shouldRejectAnOutOfRangeNumberNamingTheField(String key, String value, String range) throws IOException {
        String text = MINIMAL.lines().filter(l -> !l.startsWith(key + " ")).reduce("", (a, b) -> a + b + "\n");
        Path file = write(text + key + " = " + value + "\n");

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(file)).getMessage();

        assertEquals(file + ": '" + key + "' must be an integer in " + range + ", got '" + value + "'", message);
    }

    @Test
    void shouldNameAnUnreadableFile() {
        Path missing = temp.resolve("no-such-cluster.properties");

        String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(missing)).getMessage();

        assertTrue(message.startsWith(missing + ": cannot read cluster config: "), message);
    }

    private ClusterConfig roundTrip(ClusterConfig config) throws IOException {
        return ClusterConfigLoader.load(write(ClusterConfigLoader.format(config)));
    }

    private Path write(String text) throws IOException {
        Path file = Files.createTempFile(temp, "cluster-", ".properties");
        Files.writeString(file, text);
        return file;
    }

    private static void assertNodesEqual(List<ClusterConfig.Node> expected, List<ClusterConfig.Node> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i).id(), actual.get(i).id());
            assertEquals(expected.get(i).endpoint(), actual.get(i).endpoint());
            assertArrayEquals(expected.get(i).experts(), actual.get(i).experts(), "experts of node " + i);
        }
    }

    @Test
    void shouldPutBf16OnTheWireByDefaultOnlyWhenEveryNodeComputesInBf16() throws Exception {
        assertEquals("bf16", ClusterConfigLoader.load(write(MINIMAL + "dtype = bfloat16\n")).resolvedWireDtype());
        assertEquals("bf16", ClusterConfigLoader.load(write(MINIMAL + "device = cuda:0\n")).resolvedWireDtype(), "dtype auto on a GPU is bf16");
        assertEquals("fp32", ClusterConfigLoader.load(write(MINIMAL + "device = cuda:0\nexpert.1.device = cpu\n")).resolvedWireDtype(),
                "a CPU node computes in float32");
        assertEquals("fp32", ClusterConfigLoader.load(write(MINIMAL + "device = cuda:0\ndtype = float32\n")).resolvedWireDtype());
        assertEquals("fp32", ClusterConfigLoader.load(write(MINIMAL + "device = auto\n")).resolvedWireDtype(),
                "auto devices may differ from machine to machine: float32, which every node reads alike");
        assertEquals("bf16", ClusterConfigLoader.load(write(MINIMAL + "wire_dtype = bf16\n")).resolvedWireDtype());
    }

    @Test
    void shouldGiveEachNodeItsShareOfTheGpuAndKeepItThroughFormatAndOverrides() throws Exception {
        ClusterConfig c = ClusterConfigLoader.load(write(MINIMAL + "device = cuda:0\nexpert.1.gpu_memory_utilization = 0.45\n"));
        assertEquals(0.0, c.attentionBackend(0).memoryShare(), "no key: no share");
        assertEquals(0.45, c.expertBackend(1).memoryShare());
        ClusterConfig again = ClusterConfigLoader.load(write(ClusterConfigLoader.format(c)));
        assertEquals(0.45, again.expertBackend(1).memoryShare(), "what format wrote");
        ClusterConfig moved = again.withDevice("cuda:1", null).withMemoryShare(true, 0, 0.2);
        assertEquals(0.45, moved.expertBackend(1).memoryShare(), "a node command's --device keeps the share");
        assertEquals("cuda:1", moved.expertBackend(1).device());
        assertEquals(0.2, moved.attentionBackend(0).memoryShare(), "--gpu-memory-utilization of attention node 0");
        assertEquals(0.0, moved.expertBackend(0).memoryShare());
        for (String bad : new String[]{"0", "1.5", "half"}) {
            String message = assertThrows(TandemException.class, () -> ClusterConfigLoader.load(
                    write(MINIMAL + "attention.0.gpu_memory_utilization = " + bad + "\n"))).getMessage();
            assertTrue(message.contains("attention.0.gpu_memory_utilization") && message.contains("(0, 1]"), message);
        }
    }
}
