package dev.tandem.core.sampling;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Draw frequencies are checked with Pearson's chi-square against the exact distribution; the
 * seeds are fixed, so each check either always passes or always fails, and a correct sampler
 * would fail one with probability below 1e-4.
 */
class SamplerTest {
    private static final int DRAWS = 20_000;
    /** Chi-square quantiles at 1 − 1e-4, indexed by degrees of freedom. */
    private static final double[] CHI_SQUARE_LIMIT = {Double.NaN, 15.14, 18.42, 21.11, 23.51, 25.74};
    /** Probabilities with no ties, as logits: softmax(ln p) = p. Descending: 1, 3, 4, 2, 5, 0. */
    private static final double[] P = {0.04, 0.40, 0.10, 0.25, 0.15, 0.06};

    @Test
    void shouldPickTheFirstLargestLogitWhenGreedy() {
        Sampler sampler = new Sampler(5);
        float[] logits = {1f, 5f, -2f, 5f, 4.99f};
        assertEquals(1, sampler.sample(logits, 0, SamplingParams.GREEDY, new SplittableRandom(1)));
        assertEquals(0, sampler.sample(new float[] {3f, 3f, 3f, 3f, 3f}, 0, SamplingParams.GREEDY,
                new SplittableRandom(1)));
        assertEquals(4, sampler.sample(new float[] {-9f, -9f, -8f, -9f, -7f}, 0, SamplingParams.GREEDY,
                new SplittableRandom(1)));
        assertEquals(1, Sampler.argmax(new float[] {9f, 9f, 0f, 7f, 7f}, 2, 3), "0, 7, 7 from offset 2: index 1");
    }

    @Test
    void shouldReadOnlyItsOwnWindowOfTheLogits() {
        Sampler sampler = new Sampler(3);
        float[] logits = {100f, 100f, -1f, 0f, 2f, 1f, 100f};
        assertEquals(1, sampler.sample(logits, 3, SamplingParams.GREEDY, new SplittableRandom(1)));
        SamplingParams hot = new SamplingParams(0.01f, 1f, 0L); // near-greedy
        assertEquals(1, sampler.sample(logits, 3, hot, new SplittableRandom(5)));
    }

    @Test
    void shouldRepeatTheSameDrawsForTheSameSeed() {
        float[] logits = logits(P);
        for (float topP : new float[] {1f, 0.8f}) {
            SamplingParams params = new SamplingParams(1.3f, topP, 42L);
            int[] first = draws(logits, params, 500);
            int[] second = draws(logits, params, 500);
            assertArrayEquals(first, second, "top_p " + topP);
            assertTrue(Arrays.stream(first).distinct().count() > 1, "the draws vary");
        }
    }

    @ParameterizedTest(name = "temperature {0}")
    @ValueSource(floats = {0.5f, 1f, 2f})
    void shouldDrawWithTheFrequenciesOfSoftmaxOverTemperature(float temperature) {
        float[] logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
        double[] expected = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            expected[i] = Math.exp(logits[i] / (double) temperature);
            sum += expected[i];
        }
        for (int i = 0; i < logits.length; i++) {
            expected[i] /= sum;
        }
        int[] counts = histogram(draws(logits, new SamplingParams(temperature, 1f, 7L), DRAWS), logits.length);
        assertFits(expected, counts, "temperature " + temperature);
    }

    @Test
    void shouldNeverDrawOutsideTheNucleus() {
        float[] logits = logits(P);
        // top_p 0.6: 0.40 + 0.25 = 0.65 reaches it
        assertOnlyFrom(logits, new SamplingParams(1f, 0.6f, 11L), new int[] {1, 3});
        // top_p 0.7: 0.65 falls short, + 0.15 = 0.80
        assertOnlyFrom(logits, new SamplingParams(1f, 0.7f, 12L), new int[] {1, 3, 4});
        // top_p 0.85: 0.80 falls short, + 0.10 = 0.90
        assertOnlyFrom(logits, new SamplingParams(1f, 0.85f, 13L), new int[] {1, 3, 4, 2});
        // top_p 0.01: the most likely token alone
        assertOnlyFrom(logits, new SamplingParams(1f, 0.01f, 14L), new int[] {1});
        // temperature 2 flattens p to √p / Σ√p = .088 .277 .139 .219 .170 .107: .277 + .219 = .497, + .170 = .666
        assertOnlyFrom(logits, new SamplingParams(2f, 0.6f, 15L), new int[] {1, 3, 4});
    }

    @Test
    void shouldDrawWithinTheNucleusInProportionToProbability() {
        int[] counts = histogram(draws(logits(P), new SamplingParams(1f, 0.7f, 21L), DRAWS), P.length);
        double kept = P[1] + P[3] + P[4];
        assertFits(new double[] {P[1] / kept, P[3] / kept, P[4] / kept}, new int[] {counts[1], counts[3], counts[4]},
                "top_p 0.7");
    }

    @Test
    void shouldKeepTheTopKAndWhatMinPLeaves() {
        float[] logits = logits(P); // descending: 1 (.40), 3 (.25), 4 (.15), 2 (.10), 5 (.06), 0 (.04)
        assertOnlyFrom(logits, new SamplingParams(1f, 1f, 31L, 2, 0f), new int[] {1, 3});
        assertOnlyFrom(logits, new SamplingParams(1f, 1f, 32L, 1, 0f), new int[] {1});
        // min_p 0.3: p ≥ 0.3 · 0.40 = 0.12 keeps .40, .25, .15
        assertOnlyFrom(logits, new SamplingParams(1f, 1f, 33L, 0, 0.3f), new int[] {1, 3, 4});
        // min_p 0.2 (≥ .08: four tokens), top_k 4 (the same), top_p 0.75 of their .90: .40 + .25 = .65 < .675, + .15
        assertOnlyFrom(logits, new SamplingParams(1f, 0.75f, 34L, 4, 0.2f), new int[] {1, 3, 4});
        int[] counts = histogram(draws(logits, new SamplingParams(1f, 1f, 35L, 3, 0f), DRAWS), P.length);
        double kept = P[1] + P[3] + P[4];
        assertFits(new double[] {P[1] / kept, P[3] / kept, P[4] / kept}, new int[] {counts[1], counts[3], counts[4]},
                "top_k 3");
    }

    private static void assertOnlyFrom(float[] logits, SamplingParams params, int[] nucleus) {
        int[] counts = histogram(draws(logits, params, 5_000), logits.length);
        for (int token = 0; token < logits.length; token++) {
            if (contains(nucleus, token)) {
                assertTrue(counts[token] > 0, params + ": token " + token + " of the nucleus was never drawn");
            } else {
                assertEquals(0, counts[token], params + ": token " + token + " is outside the nucleus");
            }
        }
    }

    private static boolean contains(int[] values, int value) {
        for (int v : values) {
            if (v == value) {
                return true;
            }
        }
        return false;
    }

    private static void assertFits(double[] expected, int[] counts, String where) {
        long total = 0;
        for (int c : counts) {
            total += c;
        }
        double chiSquare = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i] * total;
            chiSquare += (counts[i] - e) * (counts[i] - e) / e;
        }
        double limit = CHI_SQUARE_LIMIT[expected.length - 1];
        assertTrue(chiSquare < limit, where + ": chi-square " + chiSquare + " ≥ " + limit + " for counts "
                + Arrays.toString(counts) + " against " + Arrays.toString(expected));
    }

    private static int[] draws(float[] logits, SamplingParams params, int n) {
        Sampler sampler = new Sampler(logits.length);
        SplittableRandom random = new SplittableRandom(params.seed());
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = sampler.sample(logits, 0, params, random);
        }
        return out;
    }

    private static int[] histogram(int[] draws, int vocab) {
        int[] counts = new int[vocab];
        for (int d : draws) {
            counts[d]++;
        }
        return counts;
    }

    private static float[] logits(double[] p) {
        float[] out = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            out[i] = (float) Math.log(p[i]);
        }
        return out;
    }
}
