package dev.tandem.scheduling;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Consumer;

/**
 * Continuous batching for one engine, as plain bookkeeping: no I/O, no clock, no threads, so the
 * live engine and the simulator decide alike. A step is {@link #schedule} (admit, then plan which
 * sequences and how many tokens each within the token budget), the caller's forward over the plan,
 * then {@link #retireFinished} (the update: what ended leaves, with its blocks).
 * <p>
 * KV blocks are taken as a sequence grows, as vLLM does. A waiting sequence is admitted once its
 * tokens so far and the next one fit, beside a reserve of 1 % of the cache for the running ones to
 * grow into (the reserve does not hold back the first sequence into an empty engine). A step takes
 * every decoding sequence's next token first, then prompt chunks (and a preempted sequence's tokens)
 * in admission order with the budget left. When a step finds no block for a sequence's next tokens, the newest
 * running sequence after it is preempted: its blocks are freed and it waits at the head of the
 * queue, to recompute its tokens when blocks are free again. A sequence alone in the cache that
 * outgrows it ends with "length". A prefill-only sequence (a prompt machine's, limit = prompt + 1)
 * never grows and is never taken.
 *
 * @param <S> the caller's sequence
 */
public final class StepScheduler<S extends BatchedSequence> {
    private final int tokenBudget;
    private final KvBlocks<S> kv;
    private final int watermarkBlocks;
    private final Deque<S> waiting = new ArrayDeque<>();
    private final List<S> running = new ArrayList<>();
    private final StepPlan<S> plan = new StepPlan<>();
    private long preemptions;

    /** @param tokenBudget the most tokens (prompt and decode) a step computes */
    public StepScheduler(int tokenBudget, KvBlocks<S> kv) {
        if (tokenBudget < 1) {
            throw new IllegalArgumentException("the token budget must be >= 1, got " + tokenBudget);
        }
        this.tokenBudget = tokenBudget;
        this.kv = kv;
        this.watermarkBlocks = Math.max(1, kv.totalBlocks() / 100);
    }

    /** Queues {@code s} behind the waiting ones. */
    public void add(S s) {
        waiting.add(s);
    }

    /** The sequences waiting for admission, head first. The caller may remove some (cancelled, aborted). */
    public Deque<S> waiting() {
        return waiting;
    }

    /** The admitted sequences, in admission order. The caller may remove some (aborted) with their blocks. */
    public List<S> running() {
        return running;
    }

    public boolean hasWork() {
        return !waiting.isEmpty() || !running.isEmpty();
    }

    /** Sequences preempted so far. */
    public long preemptions() {
        return preemptions;
    }

    /** Blocks kept free at admission for the running sequences to grow into. */
    public int watermarkBlocks() {
        return watermarkBlocks;
    }

    /** The positions {@code s} needs slots for to be admitted: its tokens so far and the next one. */
    public static int admissionPositions(BatchedSequence s) {
        return Math.min(s.limit(), s.tokens() + 1);
    }

    /** Blocks {@code s} needs beyond those it holds to be admitted. */
    public int admissionBlocks(S s) {
        return Math.max(0, kv.blocksFor(admissionPositions(s)) - kv.heldBlocks(s));
    }

    /**
     * The next step: admits what fits ({@code admitted} hears each, a preempted one again too), then
     * plans the running sequences' tokens, their blocks taken.
     */
    public StepPlan<S> schedule(Consumer<S> admitted) {
        admit(admitted);
        plan.clear();
        int budget = planTokens(tokenBudget, true);
        planTokens(budget, false);
        return plan;
    }

    /**
     * Plans the running sequences' tokens in admission order within {@code budget}: with {@code decodes},
     * only those one generated token behind; else the rest (prompt chunks, a preempted sequence's
     * recomputation). Decodes go first, as in Sarathi-Serve's stall-free batching: taken in admission
     * order alone, a long prompt admitted before them took the whole budget step after step, and the
     * machine's decoding sequences waited for all of it (a simulated mixed-pool machine stalled them for
     * 6.9 s). Returns the budget left.
     */
    private int planTokens(int budget, boolean decodes) {
        for (int r = 0; r < running.size() && budget > 0; r++) {
            S s = running.get(r);
            int start = s.computedTokens();
            boolean decoding = s.tokens() - start == 1 && start >= s.promptTokens();
            if (s.finished() || decoding != decodes || start == s.tokens()) {
                continue; // finished: resumed with a first token that already ends it, retired after this step
            }
            int end = Math.min(s.tokens(), start + budget);
            if (!grow(s, end)) {
                r = running.indexOf(s) < 0 ? r - 1 : r; // preempted: the next sequence moved into its place
                continue;
            }
            plan.add(s, start, end - start);
            s.computedTokens(end);
            budget -= end - start;
        }
        return budget;
    }

    /** The update after a step: finished sequences leave, newest first, their blocks freed, then {@code retired} hears each. */
    public void retireFinished(Consumer<S> retired) {
        for (int i = running.size() - 1; i >= 0; i--) {
            S s = running.get(i);
            if (s.finished()) {
                running.remove(i);
                kv.release(s);
                retired.accept(s);
            }
        }
    }

    private void admit(Consumer<S> admitted) {
        while (!waiting.isEmpty()) {
            S s = waiting.peek();
            int extra = admissionBlocks(s);
            if (extra > 0 && !running.isEmpty() && kv.freeBlocks() - extra < watermarkBlocks) {
                return;
            }
            if (!kv.reserve(s, admissionPositions(s))) {
                return;
            }
            waiting.poll();
            running.add(s);
            admitted.accept(s);
        }
    }

    /**
     * Blocks for {@code s}'s positions below {@code end}, preempting the newest running sequences
     * after it (then {@code s} itself) until they fit. False: {@code s} itself was preempted or
     * ended, and takes no tokens this step.
     */
    private boolean grow(S s, int end) {
        while (!kv.reserve(s, end)) {
            S victim = newestPreemptible(s);
            if (victim == null) { // alone with what cannot give way: the cache holds no more of it
                s.outgrewCache();
                return false;
            }
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        return true;
    }

    /**
     * The newest running sequence after {@code s} that may give its blocks up, else {@code s} itself if others
     * run. Only a decoding sequence grows past what admission reserved (its tokens and the next one), so only
     * the decodes' pass preempts, and its victims come after it: none of them is planned yet.
     */
    private S newestPreemptible(S s) {
        for (int i = running.size() - 1; i >= 0; i--) {
            S r = running.get(i);
            if (r == s) {
                return running.size() > 1 ? s : null;
            }
            if (!r.finished() && r.limit() > r.promptTokens() + 1) {
                return r;
            }
        }
        return null;
    }

    private void preempt(S s) {
        running.remove(s);
        kv.release(s);
        s.computedTokens(0);
        s.preempted();
        waiting.addFirst(s);
        preemptions++;
    }
}
