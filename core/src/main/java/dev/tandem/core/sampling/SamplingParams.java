package dev.tandem.core.sampling;

/**
 * How to pick the next token: temperature 0 is greedy (argmax, lowest id on ties); otherwise
 * p = softmax(logits / temperature), kept where p ≥ {@code minP} · max p, then the {@code topK}
 * most probable of those (0: all), then the smallest set of those whose share of their mass
 * reaches {@code topP}; drawn from a generator seeded with {@code seed}. vLLM's order and names.
 */
public record SamplingParams(float temperature, float topP, long seed, int topK, float minP) {
    public static final SamplingParams GREEDY = new SamplingParams(0f, 1f, 0L);

    public SamplingParams(float temperature, float topP, long seed) {
        this(temperature, topP, seed, 0, 0f);
    }

    public SamplingParams {
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0: all tokens), got " + topK);
        }
        if (!(minP >= 0f && minP <= 1f)) {
            throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        }
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
    }

    public boolean greedy() {
        return temperature == 0f;
    }
}
