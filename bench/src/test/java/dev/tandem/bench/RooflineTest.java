package dev.tandem.bench;

import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.synth.SynthSpec;
import dev.tandem.core.synth.SyntheticWeights;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The decode roofline against the figures measured for the GPU issue on the H200: at a copy
 * bandwidth of 4.27 TB/s, a full Mixtral-8x7B decode step with 128-token contexts must read for
 * 6.0 / 19.8 / 22.1 / 22.6 ms at batch 1 / 8 / 32 / 128.
 */
class RooflineTest {
    private static final double COPY_BANDWIDTH = 4.27e12;

    @Test
    void shouldGiveThePublishedStepTimesForMixtral8x7b() {
        ModelConfig c = new SyntheticWeights(SynthSpec.preset("mixtral-8x7b"), 1).config();
        long kvPerToken = 2L * c.numLayers() * c.kvDim() * 2;
        int[] batches = {1, 8, 32, 128};
        double[] publishedMs = {6.0, 19.8, 22.1, 22.6};
        for (int i = 0; i < batches.length; i++) {
            double ms = Roofline.decodeStepBytes(c, batches[i], 128, 2, kvPerToken) / COPY_BANDWIDTH * 1e3;
            assertEquals(publishedMs[i], ms, 0.03 * publishedMs[i], "batch " + batches[i]);
        }
    }

    @Test
    void shouldCountTwoFlopsPerActiveParameterPerToken() {
        ModelConfig c = new SyntheticWeights(SynthSpec.preset("mixtral-8x7b"), 1).config();
        // Mixtral-8x7B has about 12.9B active parameters a token, of which ~0.26B are the LM head
        // and embeddings (not counted here): ~25.3 GFLOP a token before attention.
        double perToken = Roofline.prefillFlops(c, 1) / 1;
        assertEquals(25.3e9, perToken, 0.02 * 25.3e9);
    }
}
