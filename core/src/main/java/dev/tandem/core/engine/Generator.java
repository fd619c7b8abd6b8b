package dev.tandem.core.engine;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.kv.BlockTable;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.sampling.Sampler;
import dev.tandem.core.sampling.SamplingParams;

import dev.tandem.scheduling.KvBlocks;
import dev.tandem.scheduling.StepPlan;
import dev.tandem.scheduling.StepScheduler;

import java.util.Deque;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs requests to completion with continuous batching on one model: each step is schedule
 * (which sequences, how many tokens each, within the token budget: {@link StepScheduler}, the
 * decisions the simulator runs too), run (one forward), and post-process (sample, append,
 * retire). Prompt chunks and decode tokens share steps. KV blocks are taken as a sequence grows,
 * as vLLM does; a preempted sequence keeps its tokens (prompt and generated) and its sampler's
 * state, and recomputes them when blocks are free again.
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
    private final Queue<Sequence> submitted = new ConcurrentLinkedQueue<>();
    private final StepScheduler<Sequence> scheduler;
    private final Deque<Sequence> waiting;  // the scheduler's
    private final List<Sequence> running;   // the scheduler's
    private final AtomicInteger submittedCount = new AtomicInteger();
    private final AtomicInteger submittedBlocks = new AtomicInteger(); // what the submitted need to be admitted
    private final int watermarkBlocks;       // kept free at admission, for the running sequences to grow into
    private final java.util.function.Consumer<Sequence> admittedCallback = this::admitted; // one, not one a step
    private long preemptionsCounted;         // the scheduler's count when the stats last took it
    private volatile int queued;
    private volatile int freeBlocks;
    private volatile boolean runningEmpty = true;

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
        this.freeBlocks = cache.freeBlocks();
        this.config = model.config();
        this.capacity = model.maxBatchTokens();
        this.scheduler = new StepScheduler<>(capacity, new CacheBlocks(cache));
        this.waiting = scheduler.waiting();
        this.running = scheduler.running();
        this.watermarkBlocks = scheduler.watermarkBlocks();
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

    /** Runs {@code requests} to completion, together; the results in request order. */
    public List<Result> generate(List<Request> requests) {
        for (int i = 0; i < requests.size(); i++) {
            validate("request " + i, requests.get(i));
        }
        Result[] results = new Result[requests.size()];
        for (int i = 0; i < results.length; i++) {
            int index = i;
            submit(requests.get(i), r -> results[index] = r);
        }
        while (hasWork()) {
            step();
        }
        return List.of(results);
    }

    /**
     * Queues a request whose tokens {@code listener} hears as they come; any thread may submit.
     *
     * @throws TandemException if the request can never run (bad ids, too long, too big for the cache)
     */
    public RequestHandle submit(Request request, GenerationListener listener) {
        validate("request", request);
        return enqueue(new Sequence(request, config.maxPositions(), listener));
    }

    /**
     * Queues a request whose prompt's keys and values are already in this generator's cache, in
     * {@code prefilledBlocks} (reserved from it by the caller, who hands them over: the request
     * frees them when it ends), and whose first token {@code firstToken} was sampled elsewhere:
     * Splitwise's token machine continuing what a prompt machine prefilled. Decoding starts by
     * running {@code firstToken}; the listener hears only the tokens after it, and the result's
     * output ids start with it. {@code request.maxTokens()} counts {@code firstToken}.
     *
     * @throws TandemException if the request can never run, or asks for no token
     */
    public RequestHandle resume(Request request, BlockTable prefilledBlocks, int firstToken,
                                GenerationListener listener) {
        validate("resumed request", request);
        if (request.maxTokens() < 1 || firstToken < 0 || firstToken >= config.vocabSize()) {
            throw new TandemException("resumed request: needs max tokens >= 1 (got " + request.maxTokens()
                    + ") and a first token in [0, " + config.vocabSize() + ") (got " + firstToken + ")");
        }
        Sequence s = new Sequence(request, config.maxPositions(), listener, prefilledBlocks);
        if (s.limit <= s.promptLength()) {
            throw new TandemException("resumed request: the prompt's " + s.promptLength()
                    + " tokens fill the model's context of " + config.maxPositions() + "; no room for the first token");
        }
        s.computed = s.promptLength();
        s.append(firstToken);
        if (s.length >= s.limit) {
            s.finishReason = "length";
        } else if (request.stopAtEos() && isEos(firstToken)) {
            s.finishReason = "stop";
        }
        return enqueue(s);
    }

    private RequestHandle enqueue(Sequence s) {
        submittedCount.incrementAndGet();
        submittedBlocks.addAndGet(admissionBlocks(s));
        submitted.add(s);
        return () -> s.cancelled = true;
    }

    /** Moves what other threads submitted to the waiting queue (on the stepping thread). */
    private void drainSubmitted() {
        for (Sequence s = submitted.poll(); s != null; s = submitted.poll()) {
            submittedCount.decrementAndGet();
            submittedBlocks.addAndGet(-admissionBlocks(s));
            waiting.add(s);
        }
    }

    /** Requests submitted or waiting for KV blocks, not yet running; any thread may ask. */
    public int queuedRequests() {
        return queued + submittedCount.get();
    }

    /**
     * Requests that wait for KV memory: none while nothing waits and the free blocks hold what every
     * request submitted since the last step needs to start (the next step admits them all), else
     * every request not running. What a queue limit should count; any thread may ask.
     */
    public int requestsWaitingForKv() {
        int pending = submittedCount.get();
        if (queued == 0 && submittedBlocks.get() <= freeBlocks - (pending > 0 && !runningEmpty ? watermarkBlocks : 0)) {
            return 0;
        }
        return queued + pending;
    }

    /** Blocks {@code s} needs beyond those it holds to be admitted. */
    private int admissionBlocks(Sequence s) {
        return scheduler.admissionBlocks(s);
    }

    /** KV blocks not reserved by any request, and the cache's total; any thread may ask. */
    public int freeKvBlocks() {
        return freeBlocks;
    }

    public int totalKvBlocks() {
        return cache.totalBlocks();
    }

    /** True while a request is queued or running. */
    public boolean hasWork() {
        return !submitted.isEmpty() || scheduler.hasWork();
    }

    /**
     * One engine step: admit, schedule, one forward over the micro-batches (empty ones
     * included: in a disaggregated cluster every attention node takes every step), sample,
     * retire. Returns the tokens the step computed.
     */
    public int step() {
        drainSubmitted();
        dropCancelled();
        StepPlan<Sequence> plan = scheduler.schedule(admittedCallback);
        stats.preemptions += scheduler.preemptions() - preemptionsCounted; // the stats may have been reset
        preemptionsCounted = scheduler.preemptions();
        long start = System.nanoTime();
        int promptTokens = fill(plan);
        markSampling();
        model.forward(microBatches, microBatches.length, cache, logits);
        postProcess();
        long elapsed = System.nanoTime() - start;
        int tokens = 0;
        for (TokenBatch mb : microBatches) {
            tokens += mb.size();
        }
        if (promptTokens > 0) {
            stats.prefillTokens += promptTokens;
            stats.prefillNanos += elapsed;
        } else if (tokens > 0) {
            stats.decodeTokens += tokens;
            stats.decodeNanos += elapsed;
            stats.decodeSteps++;
        }
        retire();
        publishCounts();
        return tokens;
    }

    /**
     * Fails every queued and running request with {@code reason} and frees their blocks: the
     * engine cannot go on (a node it needs died). Call on the stepping thread, or once it stopped.
     */
    public void abortAll(String reason) {
        drainSubmitted();
        for (Sequence s : waiting) {
            cache.release(s.blocks); // a resumed request holds its prefilled blocks while it waits
            s.listener.onError(reason);
        }
        waiting.clear();
        for (Sequence s : running) {
            cache.release(s.blocks);
            s.listener.onError(reason);
        }
        running.clear();
        publishCounts();
    }

    /** Cancelled requests leave before the step: the waiting ones at once, the running ones with their blocks. */
    private void dropCancelled() {
        waiting.removeIf(s -> {
            if (s.cancelled) {
                cache.release(s.blocks); // a resumed request holds its prefilled blocks while it waits
                s.finishReason = "cancelled";
                s.listener.onDone(new Result(s.generated(), null, s.finishReason));
            }
            return s.cancelled;
        });
        for (Sequence s : running) {
            if (s.cancelled && !s.finished()) {
                s.finishReason = "cancelled";
            }
        }
        retire();
    }

    private void publishCounts() {
        queued = waiting.size();
        freeBlocks = cache.freeBlocks();
        runningEmpty = running.isEmpty();
    }

    private void validate(String which, Request r) {
        which += ": ";
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
        int needed = cache.blocksFor(Math.min(r.positions(config.maxPositions()), r.prompt().length + 1));
        if (needed > cache.totalBlocks()) {
            throw new TandemException(which + "the prompt needs " + needed + " KV blocks but the cache has only "
                    + cache.totalBlocks() + "; enlarge the KV cache");
        }
    }

    /** A sequence the scheduler admitted (again, if it was preempted): its logit buffers, and the listener hears it once. */
    private void admitted(Sequence s) {
        if (s.request.promptLogits() && s.promptLogits == null) {
            s.promptLogits = new float[s.promptLength() * config.vocabSize()];
        }
        if (s.request.promptLogprobs() >= 0 && s.promptLogprobs == null) {
            s.promptLogprobs = new TokenLogprobs[s.promptLength()];
        }
        if (!s.preempted) {
            s.listener.onAdmitted(s.blocks.blocks());
        }
    }

    /**
     * Fills the micro-batches with the plan's tokens, each sequence's into the least loaded one;
     * returns how many of the step's tokens are prompt tokens.
     */
    private int fill(StepPlan<Sequence> plan) {
        for (TokenBatch mb : microBatches) {
            mb.clear();
        }
        for (int i = 0; i < plan.size(); i++) {
            Sequence s = plan.sequence(i);
            TokenBatch mb = leastLoaded();
            int m = indexOf(mb);
            // a prompt, or a preempted sequence's tokens, a chunk at a time; then the last token, decoding
            for (int pos = plan.start(i); pos < plan.start(i) + plan.tokens(i); pos++) {
                boolean prompt = pos < s.promptLength();
                mb.add(s.tokens[pos], pos, cache.slot(s.blocks, pos), s.blocks.blocks());
                if (pos == s.length - 1 || (prompt && (s.request.promptLogits() || s.request.promptLogprobs() >= 0))) {
                    logitOwner[m][mb.logitCount()] = s;
                    logitPosition[m][mb.logitCount()] = pos;
                    mb.markLogits();
                }
            }
        }
        return plan.promptTokens();
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

    /**
     * A micro-batch none of whose logit rows keeps its logits is sampled inside the model (on a
     * device, only the token ids come back): each row that will take a token gets its sequence's
     * temperature, top-p and next draw (the one draw the host sampler would make), the others a
     * greedy placeholder.
     */
    private void markSampling() {
        for (int m = 0; m < microBatches.length; m++) {
            TokenBatch mb = microBatches[m];
            boolean inModel = mb.logitCount() > 0;
            for (int i = 0; i < mb.logitCount() && inModel; i++) {
                inModel = !logitOwner[m][i].request.needsLogits();
            }
            mb.sampleInModel = inModel;
            for (int i = 0; inModel && i < mb.logitCount(); i++) {
                Sequence s = logitOwner[m][i];
                SamplingParams p = s.request.sampling();
                boolean takesToken = logitPosition[m][i] == s.length - 1 && s.length < s.limit;
                boolean greedy = !takesToken || p.greedy();
                mb.temperature[i] = greedy ? 0f : p.temperature();
                mb.topP[i] = p.topP();
                mb.topK[i] = p.topK();
                mb.minP[i] = p.minP();
                mb.uniform[i] = greedy ? 0f : (float) s.random.nextDouble();
            }
        }
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
                if (s.promptLogprobs != null && pos + 1 < s.promptLength()) {
                    s.promptLogprobs[pos + 1] = TokenLogprobs.of(logits[m], i * vocab, vocab, s.tokens[pos + 1],
                            s.request.promptLogprobs());
                }
                if (pos != s.length - 1) {
                    continue;
                }
                if (s.length >= s.limit) {
                    s.finishReason = "length";
                    continue;
                }
                int next = microBatches[m].sampleInModel ? microBatches[m].sampled[i]
                        : sampler.sample(logits[m], i * vocab, s.request.sampling(), s.random);
                s.append(next);
                if (s.promptLogprobs != null && s.length == s.promptLength() + 1) {
                    s.listener.onPromptLogprobs(s.promptLogprobs);
                }
                s.listener.onToken(next, s.request.logprobs() < 0 ? null
                        : TokenLogprobs.of(logits[m], i * vocab, vocab, next, s.request.logprobs()));
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

    private void retire() {
        scheduler.retireFinished(s -> s.listener.onDone(new Result(s.generated(), s.promptLogits, s.finishReason,
                s.promptLogprobs)));
    }

    /** The paged cache as the scheduler sees it: a sequence's blocks are its block table. */
    private record CacheBlocks(PagedKvCache cache) implements KvBlocks<Sequence> {
        @Override
        public boolean reserve(Sequence s, int positions) {
            return cache.reserve(s.blocks, positions);
        }

        @Override
        public void release(Sequence s) {
            cache.release(s.blocks);
        }

        @Override
        public int freeBlocks() {
            return cache.freeBlocks();
        }

        @Override
        public int totalBlocks() {
            return cache.totalBlocks();
        }

        @Override
        public int blocksFor(int positions) {
            return cache.blocksFor(positions);
        }

        @Override
        public int heldBlocks(Sequence s) {
            return s.blocks.size();
        }
    }
}
