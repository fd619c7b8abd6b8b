package dev.tandem.bench;

/** An engine under test: generates greedily from the same prompts, and times prefill and decode. */
interface GenerationEngine extends AutoCloseable {
    String name();

    /** Prefills every prompt, then decodes {@code decodeTokens} tokens for each (no stop at EOS). */
    Throughput run(int[][] prompts, int decodeTokens);

    @Override
    void close();
}
