package dev.tandem.core.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks tokens from logits; scratch is preallocated for one vocabulary, so sampling allocates nothing. */
public final class Sampler {
    private final int vocab;
    private final float[] probabilities;
    private final long[] ranked; // (probability bits << 32 | token), sorted ascending for top-p

    public Sampler(int vocab) {
        this.vocab = vocab;
        this.probabilities = new float[vocab];
        this.ranked = new long[vocab];
    }

    /** Samples from {@code logits[offset .. offset + vocab)}, drawing from {@code random} unless greedy. */
    public int sample(float[] logits, int offset, SamplingParams params, SplittableRandom random) {
        if (params.greedy()) {
            return argmax(logits, offset, vocab);
        }
        return sample(logits, offset, params.temperature(), params.topP(), params.topK(), params.minP(),
                (float) random.nextDouble());
    }

    /** The same with the draw {@code uniform} ∈ [0, 1) made already; temperature 0 is greedy. */
    public int sample(float[] logits, int offset, float temperature, float topP, float uniform) {
        return sample(logits, offset, temperature, topP, 0, 0f, uniform);
    }

    /** As {@link SamplingParams} describes, at the draw {@code uniform}; temperature 0 is greedy. */
    public int sample(float[] logits, int offset, float temperature, float topP, int topK, float minP, float uniform) {
        if (temperature == 0f) {
            return argmax(logits, offset, vocab);
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        float sum = 0f;
        for (int i = 0; i < vocab; i++) {
            probabilities[i] = (float) Math.exp((logits[offset + i] - max) / temperature);
            sum += probabilities[i];
        }
        for (int i = 0; i < vocab; i++) {
            probabilities[i] /= sum;
        }
        if (topK > 0 || minP > 0f) {
            return sampleFiltered(topP, topK, minP, uniform);
        }
        return topP < 1f ? sampleTopP(topP, uniform) : sampleAll(uniform);
    }

    /**
     * min-p, then top-k, then top-p over what those leave (its share of their mass), walking the
     * tokens from the most probable down, as {@link #sampleTopP} does.
     */
    private int sampleFiltered(float topP, int topK, float minP, float uniform) {
        rank();
        int lowest = topK > 0 ? Math.max(0, vocab - topK) : 0;
        float floor = minP * probability(vocab - 1);
        while (lowest < vocab - 1 && probability(lowest) < floor) {
            lowest++;
        }
        float total = 0f;
        for (int i = vocab - 1; i >= lowest; i--) {
            total += probability(i);
        }
        float kept = 0f;
        int first = vocab - 1;
        for (; first >= lowest; first--) {
            kept += probability(first);
            if (kept >= topP * total) {
                break;
            }
        }
        first = Math.max(first, lowest);
        float r = uniform * kept;
        float cumulative = 0f;
        for (int i = vocab - 1; i >= first; i--) {
            cumulative += probability(i);
            if (r < cumulative) {
                return (int) ranked[i];
            }
        }
        return (int) ranked[vocab - 1];
    }

    /** Sorts the probabilities ascending into {@link #ranked}. */
    private void rank() {
        for (int i = 0; i < vocab; i++) {
            // non-negative floats order like their bits; the low half keeps the token
            ranked[i] = ((long) Float.floatToRawIntBits(probabilities[i]) << 32) | i;
        }
        Arrays.sort(ranked);
    }

    /** The i-th smallest probability, after {@link #rank}. */
    private float probability(int i) {
        return Float.intBitsToFloat((int) (ranked[i] >>> 32));
    }

    private int sampleAll(float r) {
        float cumulative = 0f;
        for (int i = 0; i < vocab; i++) {
            cumulative += probabilities[i];
            if (r < cumulative) {
                return i;
            }
        }
        return argmax(probabilities, 0, vocab); // rounding left r past the total
    }

    private int sampleTopP(float topP, float uniform) {
        rank();
        float kept = 0f;
        int first = vocab - 1;
        for (; first >= 0; first--) {
            kept += Float.intBitsToFloat((int) (ranked[first] >>> 32));
            if (kept >= topP) {
                break;
            }
        }
        first = Math.max(first, 0);
        float r = uniform * kept;
        float cumulative = 0f;
        for (int i = vocab - 1; i >= first; i--) {
            cumulative += Float.intBitsToFloat((int) (ranked[i] >>> 32));
            if (r < cumulative) {
                return (int) ranked[i];
            }
        }
        return (int) ranked[vocab - 1];
    }

    /** Index of the largest value; the first one on ties, as torch.argmax. */
    public static int argmax(float[] values, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (values[offset + i] > values[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}
