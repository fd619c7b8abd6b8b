package dev.tandem.core.sampling;

/**
 * How to pick the next token: temperature 0 is greedy (argmax, lowest id on ties); otherwise
 * softmax(logits / temperature) restricted to the smallest set of tokens whose probability
 * reaches {@code topP}, drawn from a generator seeded with {@code seed}.
 */
public record SamplingParams(float temperature, float topP, long seed) {
    public static final SamplingParams GREEDY = new SamplingParams(0f, 1f, 0L);

    public SamplingParams {
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
