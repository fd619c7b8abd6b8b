package dev.tandem.bench;

import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.engine.EngineStats;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Tandem's colocated engine: one {@link Generator} with continuous batching. Its token budget
 * holds every prompt of the largest batch, so that prefill is one step and decode steps carry
 * exactly one token per sequence; the timings are the generator's own {@link EngineStats}.
 */
final class TandemEngine implements GenerationEngine {
    private static final int KV_BLOCK = 16;

    private final CausalLm model;
    private final Generator generator;

    /** Sized for up to {@code maxBatch} sequences of {@code maxTokens} tokens, prefilled in one step. */
    TandemEngine(Path dir, BackendSpec backend, java.io.PrintStream log, int maxBatch, int promptTokens, int maxTokens) {
        this.model = Models.load(dir, backend.open(line -> log.println("tandem: " + line)), maxBatch * promptTokens);
        int blocksPerSequence = (maxTokens + KV_BLOCK - 1) / KV_BLOCK; // admission reserves whole blocks
        this.generator = new Generator(model, model.newKvCache(maxBatch * blocksPerSequence * KV_BLOCK, KV_BLOCK));
    }

    @Override
    public String name() {
        return "Tandem";
    }

    @Override
    public Throughput run(int[][] prompts, int decodeTokens) {
        List<Request> requests = new ArrayList<>(prompts.length);
        for (int[] prompt : prompts) {
            // decodeTokens after the first, which prefill produces
            requests.add(new Request(prompt, decodeTokens + 1, SamplingParams.GREEDY, false, false));
        }
        generator.stats().reset();
        generator.generate(requests);
        EngineStats s = generator.stats();
        return new Throughput(name(), prompts.length, s.prefillTokens(), seconds(s.prefillTokens(),
                s.prefillTokensPerSecond()), s.decodeTokens(), seconds(s.decodeTokens(), s.decodeTokensPerSecond()),
                Double.NaN);
    }

    private static double seconds(long tokens, double perSecond) {
        return perSecond == 0 ? 0 : tokens / perSecond;
    }

    @Override
    public void close() {
        model.close();
    }
}
