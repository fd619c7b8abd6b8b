package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link LocalCluster}: every node its own OS process (started with this JVM's flags and
 * classpath), one media driver in this process. The fixtures' prompts spread over the attention
 * nodes give transformers' greedy tokens and logits, over aeron-ipc and over aeron-udp (each node
 * at a 127.0.0.1 port of its own, datagrams as between hosts); close leaves no process, no cluster
 * directory and no driver directory behind.
 */
class LocalClusterParityTest {
    private static final long RESULT_TIMEOUT_S = 120; // ten JVMs start on two cores

    @TempDir
    Path temp;

    @ParameterizedTest(name = "{0} A={1} E={2} m={3} {4}")
    @CsvSource({"mixtral-tiny, 2, 2, 2, aeron-ipc", "mixtral-tiny, 3, 4, 3, aeron-ipc", "dbrx-tiny, 2, 8, 4, aeron-ipc",
            "mixtral-tiny, 2, 3, 2, aeron-udp"})
    void shouldMatchTransformersWithEveryNodeItsOwnProcess(String model, int attentionNodes, int expertNodes,
                                                           int microBatches, String transport) throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        ObjectMapper json = new ObjectMapper();
        List<ProcessHandle> started;
        Path clusterFile;
        Path aeronDirectory;
        LocalCluster.Options options = new LocalCluster.Options(CliFixtures.fixture(model), attentionNodes, expertNodes,
                microBatches, 1, 64, 512, 2);
        try (LocalCluster cluster = new LocalCluster(transport.equals("aeron-udp") ? options.overUdp() : options)) {
            started = ClusterProcesses.nodes();
            assertEquals(attentionNodes + expertNodes, started.size(), "node processes");
            clusterFile = ClusterProcesses.clusterFile();
            var config = dev.tandem.core.cluster.ClusterConfigLoader.load(clusterFile);
            assertEquals(transport, config.transport(), "the nodes' transport");
            for (var node : config.expertNodes()) {
                assertEquals(transport.equals("aeron-udp"), node.endpoint().startsWith("127.0.0.1:"),
                        "expert node " + node.id() + " at " + node.endpoint());
            }
            aeronDirectory = ClusterProcesses.aeronDirectory(clusterFile);
            List<JsonNode> results = FixtureExpectations.submitAll(json, prompts, temp, attentionNodes, cluster::submit,
                    RESULT_TIMEOUT_S);
            for (int p = 0; p < prompts.size(); p++) {
                FixtureExpectations.check(model + " p" + p + " on attention node " + p % attentionNodes, prompts.get(p),
                        results.get(p), FixtureExpectations.logitsFile(temp, p));
            }
        }
        ClusterProcesses.assertNothingLeft(started, clusterFile.getParent(), aeronDirectory);
    }
}
