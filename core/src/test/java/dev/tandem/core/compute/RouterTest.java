package dev.tandem.core.compute;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Top-k routing against hand computations: logits of the form ln(m) make softmax proportional
 * to m, so the expected weights are plain fractions.
 */
class RouterTest {
    private static final float TOLERANCE = 1e-6f;

    @Test
    void shouldRenormaliseTheTopTwoToSumToOneAsMixtral() {
        Router router = new Router(8, 2, 1f);
        // ∝ 1, 6, 2, 3, 1, 4, 0.5, 2: experts 1 and 5, weights 6/10 and 4/10
        float[] logits = ln(1, 6, 2, 3, 1, 4, 0.5, 2);
        int[] chosen = new int[2];
        float[] weights = new float[2];

        router.route(logits, 0, chosen, weights);

        assertArrayEquals(new int[] {1, 5}, chosen);
        assertArrayEquals(new float[] {0.6f, 0.4f}, weights, TOLERANCE);
        assertEquals(1f, weights[0] + weights[1], TOLERANCE);
    }

    @Test
    void shouldDivideByTheL1NormAsDbrxWithPOne() {
        Router router = new Router(16, 4, 1.0f);
        // ∝ 8, 1, 2, 5 at experts 3, 9, 12, 15 and 1 elsewhere: 8, 5, 2 and a tie of ones for the fourth
        double[] m = new double[16];
        Arrays.fill(m, 1);
        m[3] = 8;
        m[15] = 5;
        m[12] = 2;
        m[9] = 0.5;
        int[] chosen = new int[4];
        float[] weights = new float[4];

        router.route(ln(m), 0, chosen, weights);

        // the fourth is the lowest-numbered expert among those at 1: expert 0
        assertArrayEquals(new int[] {3, 15, 12, 0}, chosen);
        assertArrayEquals(new float[] {8f / 16, 5f / 16, 2f / 16, 1f / 16}, weights, TOLERANCE);
    }

    @Test
    void shouldDivideByTheL2NormWithPTwo() {
        Router router = new Router(4, 2, 2f);
        // ∝ 3, 4, 1, 2: experts 1 and 0, weights 4 and 3 over √(4² + 3²) = 5
        int[] chosen = new int[2];
        float[] weights = new float[2];

        router.route(ln(3, 4, 1, 2), 0, chosen, weights);

        assertArrayEquals(new int[] {1, 0}, chosen);
        assertArrayEquals(new float[] {0.8f, 0.6f}, weights, TOLERANCE);
    }

    @Test
    void shouldKeepSoftmaxProbabilitiesWithoutNormalisation() {
        Router router = new Router(4, 2, 0f);
        int[] chosen = new int[2];
        float[] weights = new float[2];

        router.route(ln(3, 4, 1, 2), 0, chosen, weights);

        assertArrayEquals(new int[] {1, 0}, chosen);
        assertArrayEquals(new float[] {0.4f, 0.3f}, weights, TOLERANCE);
    }

    @Test
    void shouldBreakTiesTowardTheLowerExpert() {
        Router router = new Router(5, 2, 1f);
        int[] chosen = new int[2];
        float[] weights = new float[2];

        router.route(new float[] {1f, 3f, 3f, 0f, 3f}, 0, chosen, weights);
        assertArrayEquals(new int[] {1, 2}, chosen);
        assertArrayEquals(new float[] {0.5f, 0.5f}, weights, TOLERANCE);

        router.route(new float[] {2f, 2f, 2f, 2f, 2f}, 0, chosen, weights);
        assertArrayEquals(new int[] {0, 1}, chosen);
    }

    @Test
    void shouldRouteFromTheGivenOffset() {
        Router router = new Router(3, 1, 1f);
        float[] logits = {9f, 9f, 0f, 1f, 0.5f, 9f};
        int[] chosen = new int[1];
        float[] weights = new float[1];

        router.route(logits, 2, chosen, weights);

        assertArrayEquals(new int[] {1}, chosen);
        assertArrayEquals(new float[] {1f}, weights, TOLERANCE);
    }

    @Test
    void shouldMatchADoublePrecisionOracleOnRandomLogits() {
        Random random = new Random(99);
        int experts = 16;
        int topK = 4;
        for (float p : new float[] {1f, 2f}) {
            Router router = new Router(experts, topK, p);
            for (int trial = 0; trial < 100; trial++) {
                float[] logits = new float[experts];
                for (int e = 0; e < experts; e++) {
                    logits[e] = (float) (3 * random.nextGaussian());
                }
                int[] chosen = new int[topK];
                float[] weights = new float[topK];
                router.route(logits, 0, chosen, weights);

                int[] expectedChosen = new int[topK];
                double[] top = new double[topK];
                boolean[] taken = new boolean[experts];
                for (int j = 0; j < topK; j++) {
                    int best = -1;
                    for (int e = 0; e < experts; e++) {
                        if (!taken[e] && (best < 0 || logits[e] > logits[best])) {
                            best = e;
                        }
                    }
                    taken[best] = true;
                    expectedChosen[j] = best;
                    top[j] = Math.exp(logits[best]); // softmax's denominator cancels in the normalisation
                }
                double norm = 0;
                for (double w : top) {
                    norm += Math.pow(w, p);
                }
                norm = Math.pow(norm, 1 / p);
                assertArrayEquals(expectedChosen, chosen, "p " + p + ", trial " + trial);
                for (int j = 0; j < topK; j++) {
                    assertEquals(top[j] / norm, weights[j], 1e-6, "p " + p + ", trial " + trial + ", weight " + j);
                }
            }
        }
    }

    private static float[] ln(double... m) {
        float[] out = new float[m.length];
        for (int i = 0; i < m.length; i++) {
            out[i] = (float) Math.log(m[i]);
        }
        return out;
    }
}
