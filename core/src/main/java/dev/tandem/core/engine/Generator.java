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
    private final TokenBatch batch;
    private final int[] logitRows;
    private final Sequence[] logitOwner;
    private final int[] logitPosition;
    private final float[] logits;
    private final EngineStats stats = new EngineStats();

    public Generator(CausalLm model, PagedKvCache cache) {
        this.model = model;
        this.cache = cache;
        this.config = model.config();
        int capacity = model.maxBatchTokens();
        this.sampler = new Sampler(config.vocabSize());
        this.batch = new TokenBatch(capacity);
        this.logitRows = new int[capacity];
        this.logitOwner = new Sequence[capacity];
        this.logitPosition = new int[capacity];
        this.logits = new float[capacity * config.vocabSize()];
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
            model.forward(batch, cache, logitRows, countLogitRows, logits);
            postProcess();
            long elapsed = System.nanoTime() - start;
            if (promptTokens > 0) {
                stats.prefillTokens += promptTokens;
                stats.prefillNanos += elapsed;
            } else {
                stats.decodeTokens += batch.size();
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

    private int countLogitRows;

    /** Fills the batch within the token budget; returns how many of its tokens are prompt tokens. */
    private int schedule(List<Sequence> running) {
        batch.clear();
        countLogitRows = 0;
        int promptTokens = 0;
        for (Sequence s : running) {
            if (batch.isFull()) {
                break;
            }
            int end = s.inPrefill() ? Math.min(s.promptLength(), s.computed + batch.capacity - batch.size()) : s.length;
            for (int pos = s.computed; pos < end; pos++) {
                boolean prompt = pos < s.promptLength();
                boolean wantsLogits = pos == s.length - 1 || (prompt && s.request.promptLogits());
                if (wantsLogits) {
                    logitRows[countLogitRows] = batch.size();
                    logitOwner[countLogitRows] = s;
                    logitPosition[countLogitRows] = pos;
                    countLogitRows++;
                }
                batch.add(s.tokens[pos], pos, cache.slot(s.blocks, pos), s.blocks.blocks());
                promptTokens += prompt ? 1 : 0;
            }
            s.computed = end;
        }
        return promptTokens;
    }

    private void postProcess() {
        int vocab = config.vocabSize();
        for (int i = 0; i < countLogitRows; i++) {
            Sequence s = logitOwner[i];
            int pos = logitPosition[i];
            if (s.promptLogits != null && pos < s.promptLength()) {
                System.arraycopy(logits, i * vocab, s.promptLogits, pos * vocab, vocab);
            }
            if (pos != s.length - 1) {
                continue;
            }
            if (s.length >= s.limit) {
                s.finishReason = "length";
                continue;
            }
            int next = sampler.sample(logits, i * vocab, s.request.sampling(), s.random);
            s.append(next);
            if (s.request.stopAtEos() && isEos(next)) {
                s.finishReason = "stop";
            } else if (s.length >= s.limit) {
                s.finishReason = "length";
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
