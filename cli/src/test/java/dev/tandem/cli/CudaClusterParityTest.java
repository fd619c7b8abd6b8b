package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.cuda.RequiresCuda;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;

/**
 * AFD with nodes on a CUDA device, in one JVM over one Aeron IPC driver: attention and expert
 * nodes both on the GPU, and mixed (attention on the GPU, experts on the CPU, and the reverse),
 * in float32 give transformers' greedy tokens and prompt logits (1e-4) for the fixtures; in bf16
 * their logits stay within the bf16 bound.
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaClusterParityTest {
    private static final long RESULT_TIMEOUT_S = 120;

    @TempDir
    Path temp;

    @ParameterizedTest(name = "{0} A={1} E={2} m={3} attention on {4}, experts on {5}")
    @CsvSource({
            "mixtral-tiny, 1, 1, 1, cuda:0, cuda:0",
            "mixtral-tiny, 1, 2, 3, cuda:0, cuda:0",
            "mixtral-tiny, 2, 2, 2, cuda:0, cuda:0",
            "dbrx-tiny, 1, 4, 4, cuda:0, cuda:0",
            "mixtral-tiny, 1, 2, 2, cuda:0, cpu",
            "dbrx-tiny, 2, 2, 2, cpu, cuda:0"})
    void shouldMatchTransformersWithNodesOnTheGpu(String model, int attentionNodes, int expertNodes, int microBatches,
                                                  String attentionDevice, String expertDevice) throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        ObjectMapper json = new ObjectMapper();
        try (InJvmCluster cluster = new InJvmCluster(CliFixtures.fixture(model), attentionNodes, expertNodes,
                microBatches, "fp32", attentionDevice, expertDevice, "float32")) {
            List<JsonNode> results = FixtureExpectations.submitAll(json, prompts, temp, attentionNodes, cluster::submit,
                    RESULT_TIMEOUT_S);
            for (int p = 0; p < prompts.size(); p++) {
                FixtureExpectations.check(model + " p" + p + " (attention on " + attentionDevice + ", experts on "
                        + expertDevice + ")", prompts.get(p), results.get(p), FixtureExpectations.logitsFile(temp, p));
            }
        }
    }

    /**
     * Nodes computing in bf16 on the GPU with bf16 on the wire (what wire_dtype = auto picks there),
     * through the expert node's decode-sized path (a row a token, the experts from its gates) and its
     * grouped path (DBRX's layout): logits within 1.5× transformers' own bf16 error, as the
     * colocated GPU backend's bf16 bound.
     */
    @ParameterizedTest(name = "{0} A={1} E={2} m={3} in bf16")
    @CsvSource({
            "mixtral-tiny, 1, 1, 1, 4.8e-3",
            "mixtral-tiny, 1, 2, 2, 4.8e-3",
            "mixtral-tiny, 2, 2, 2, 4.8e-3",
            "dbrx-tiny, 1, 4, 4, 1.2e-2"})
    void shouldStayWithinBf16ToleranceWithNodesComputingInBf16(String model, int attentionNodes, int expertNodes,
                                                               int microBatches, double transformersBf16Error)
            throws Exception {
        List<FixtureExpectations.Prompt> prompts = FixtureExpectations.load(model);
        ObjectMapper json = new ObjectMapper();
        double worst;
        try (InJvmCluster cluster = new InJvmCluster(CliFixtures.fixture(model), attentionNodes, expertNodes,
                microBatches, "bf16", "cuda:0", "cuda:0", "bfloat16")) {
            List<JsonNode> results = FixtureExpectations.submitAll(json, prompts, temp, attentionNodes, cluster::submit,
                    RESULT_TIMEOUT_S);
            worst = FixtureExpectations.checkAllWithin(model + " in bf16 on the GPU", prompts, results, temp,
                    1.5 * transformersBf16Error);
        }
        System.err.printf("%s A=%d E=%d m=%d, bf16 nodes on the GPU: worst relative L2 %.3g%n", model, attentionNodes,
                expertNodes, microBatches, worst);
    }
}
