package dev.tandem.core.engine;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.sampling.Sampler;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Runs requests to completion with continuous batching on one model: each step is schedule
 * (which sequences, how many tokens each, within the token budget), run (one forward), and
 * post-process (sample, append, retire). Prompt chunks and decode tokens share steps. A request
 * is admitted only once every KV block it may need is reserved.
 */
public final class Generator {
    private final CausalLm model;
    private final PagedKvCache cache;
    private final ModelConfig config;
    private final Sampler sampler;
    private final int capacity;
    private final TokenBatch[] microBatches;
    private final Sequence[][] logitOwner;  // (micro-batch, marked row)
    private final int[][] logitPosition;    // (micro-batch, marked row)
    private final float[][] logits;         // (micro-batch) (marked rows, vocab)
    private final EngineStats stats = new EngineStats();

    public Generator(CausalLm model, PagedKvCache cache) {
        this(model, cache, 1);
    }

    /** Each step's tokens are cut into {@code microBatches} micro-batches (the ping-pong's m). */
    public Generator(CausalLm model, PagedKvCache cache, int microBatches) {
        if (microBatches < 1) {
            throw new IllegalArgumentException("micro-batches must be >= 1, got " + microBatches);
        }
        this.model = model;
        this.cache = cache;
        this.config = model.config();
        this.capacity = model.maxBatchTokens();
        this.sampler = new Sampler(config.vocabSize());
        this.microBatches = new TokenBatch[microBatches];
        this.logitOwner = new Sequence[microBatches][capacity];
        this.logitPosition = new int[microBatches][capacity];
        this.logits = new float[microBatches][];
        for (int i = 0; i < microBatches; i++) {
            this.microBatches[i] = new TokenBatch(capacity);
            this.logits[i] = new float[capacity * config.vocabSize()];
        }
    }

    public EngineStats stats() {
        return stats;
    }

    public List<Result> generate(List<Request> requests) {
        Deque<Sequence> waiting = new ArrayDeque<>();
        Sequence[] all = new Sequence[requests.size()];
        for (int i = 0; i < all.length; i++) {
            validate(i, requests.get(i));
            all[i] = new Sequence(i, requests.get(i), config.maxPositions());
            waiting.add(all[i]);
        }
        List<Sequence> running = new ArrayList<>();
        while (!waiting.isEmpty() || !running.isEmpty()) {
            admit(waiting, running);
            long start = System.nanoTime();
            int promptTokens = schedule(running);
            model.forward(microBatches, microBatches.length, cache, logits);
            postProcess();
            long elapsed = System.nanoTime() - start;
            if (promptTokens > 0) {
                stats.prefillTokens += promptTokens;
                stats.prefillNanos += elapsed;
            } else {
                for (TokenBatch mb : microBatches) {
                    stats.decodeTokens += mb.size();
                }
                stats.decodeNanos += elapsed;
                stats.decodeSteps++;
            }
            retire(running);
        }
        List<Result> results = new ArrayList<>(all.length);
        for (Sequence s : all) {
            results.add(new Result(s.generated(), s.promptLogits, s.finishReason));
        }
        return results;
    }

    private void validate(int index, Request r) {
        String which = "request " + index + ": ";
        if (r.prompt().length == 0) {
            throw new TandemException(which + "the prompt is empty");
        }
        for (int i = 0; i < r.prompt().length; i++) {
            int id = r.prompt()[i];
            if (id < 0 || id >= config.vocabSize()) {
                throw new TandemException(which + "input id " + id + " at index " + i
                        + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
        if (r.prompt().length > config.maxPositions()) {
            throw new TandemException(which + "the prompt has " + r.prompt().length
                    + " tokens, longer than the model's context of " + config.maxPositions());
        }
        if (r.maxTokens() < 0) {
            throw new TandemException(which + "max tokens must be >= 0, got " + r.maxTokens());
        }
        int needed = cache.blocksFor(Math.min(config.maxPositions(), r.prompt().length + r.maxTokens()));
        if (needed > cache.totalBlocks()) {
            throw new TandemException(which + "needs " + needed + " KV blocks but the cache has only "
                    + cache.totalBlocks() + "; enlarge the KV cache or lower max tokens");
        }
    }

    private void admit(Deque<Sequence> waiting, List<Sequence> running) {
        while (!waiting.isEmpty() && cache.reserve(waiting.peek().blocks, waiting.peek().limit)) {
            Sequence s = waiting.poll();
            if (s.request.promptLogits()) {
                s.promptLogits = new float[s.promptLength() * config.vocabSize()];
            }
            running.add(s);
        }
    }

    /**
     * Fills the micro-batches within the step's token budget, each sequence's tokens into the
     * least loaded one; returns how many of the step's tokens are prompt tokens.
     */
    private int schedule(List<Sequence> running) {
        for (TokenBatch mb : microBatches) {
            mb.clear();
        }
        int budget = capacity;
        int promptTokens = 0;
        for (Sequence s : running) {
            TokenBatch mb = leastLoaded();
            int room = Math.min(budget, capacity - mb.size());
            if (room == 0) {
                break;
            }
            int m = indexOf(mb);
            int end = s.inPrefill() ? Math.min(s.promptLength(), s.computed + room) : s.length;
            for (int pos = s.computed; pos < end; pos++) {
                boolean prompt = pos < s.promptLength();
                mb.add(s.tokens[pos], pos, cache.slot(s.blocks, pos), s.blocks.blocks());
                if (pos == s.length - 1 || (prompt && s.request.promptLogits())) {
                    logitOwner[m][mb.logitCount()] = s;
                    logitPosition[m][mb.logitCount()] = pos;
                    mb.markLogits();
                }
                promptTokens += prompt ? 1 : 0;
            }
            budget -= end - s.computed;
            s.computed = end;
        }
        return promptTokens;
    }

    private TokenBatch leastLoaded() {
        TokenBatch best = microBatches[0];
        for (TokenBatch mb : microBatches) {
            if (mb.size() < best.size()) {
                best = mb;
            }
        }
        return best;
    }

    private int indexOf(TokenBatch mb) {
        for (int i = 0; i < microBatches.length; i++) {
            if (microBatches[i] == mb) {
                return i;
            }
        }
        throw new IllegalStateException();
    }

    private void postProcess() {
        int vocab = config.vocabSize();
        for (int m = 0; m < microBatches.length; m++) {
            for (int i = 0; i < microBatches[m].logitCount(); i++) {
                Sequence s = logitOwner[m][i];
                int pos = logitPosition[m][i];
                if (s.promptLogits != null && pos < s.promptLength()) {
                    System.arraycopy(logits[m], i * vocab, s.promptLogits, pos * vocab, vocab);
                }
                if (pos != s.length - 1) {
                    continue;
                }
                if (s.length >= s.limit) {
                    s.finishReason = "length";
                    continue;
                }
                int next = sampler.sample(logits[m], i * vocab, s.request.sampling(), s.random);
                s.append(next);
                if (s.request.stopAtEos() && isEos(next)) {
                    s.finishReason = "stop";
                } else if (s.length >= s.limit) {
                    s.finishReason = "length";
                }
            }
        }
    }

    private boolean isEos(int token) {
        for (int eos : config.eosTokenIds()) {
            if (eos == token) {
                return true;
            }
        }
        return false;
    }

    private void retire(List<Sequence> running) {
        running.removeIf(s -> {
            if (s.finished()) {
                cache.release(s.blocks);
                return true;
            }
            return false;
        });
    }
}
