package dev.tandem.sim;

import dev.tandem.core.model.CausalLm;
import dev.tandem.scheduling.CountedKvBlocks;
import dev.tandem.scheduling.StepPlan;
import dev.tandem.scheduling.StepScheduler;

import java.util.ArrayDeque;

/**
 * One simulated machine: the live engine's continuous batching ({@link StepScheduler} over a
 * counted cache of the live block size) timed by a {@link MachineProfile}. A step's prompt
 * chunks cost a prefill of their tokens and its decode tokens a decode step of those sequences
 * (a step with both, as {@code mixed.prefill_factor} says). A step of decode tokens only, every
 * running sequence in it and nothing waiting, may stand for a run of such steps: up to the first
 * sequence's end, and no further than the free blocks let every sequence grow, so that the run's
 * steps are the ones the scheduler would plan one by one.
 */
final class SimulatedMachine {
    final MachineProfile profile;
    final boolean token; // of the token pool: capped first under a power budget
    final CountedKvBlocks<MachineSequence> kv;
    final StepScheduler<MachineSequence> scheduler;
    final PowerBins power;
    /** Split requests whose prompt KV landed but found no blocks yet, first come first served (as the live node). */
    final ArrayDeque<MachineSequence> awaitingBlocks = new ArrayDeque<>();
    StepPlan<MachineSequence> plan; // the step under way
    boolean stepping;
    boolean ending;      // in endStep: its run is over, its next one is planned at the end
    double prefillMs;    // totals over the run, ms
    double decodeMs;
    // the step or run under way
    int runSteps;
    double runStartMs;
    double runPrefillMs; // the step's time counted as prefill: its chunks, or all of a mixed step
    long chunkTokens;    // prompt chunks (and a preempted sequence's recomputed tokens)
    int decodeSequences; // sequences decoding one token each
    long runContext;     // the decoding sequences' tokens when the run started
    int id;              // the simulation's: its step end's key
    boolean capped;      // the step under way runs under the profile's power cap
    double cappedMs;     // total time stepping capped
    // what the machine adds to the cluster's draw now, W: as it runs, and were it uncapped or capped
    double drawW;
    double drawUncappedW;
    double drawCappedW;

    SimulatedMachine(MachineProfile profile, boolean token, int kvTokens, PowerBins power) {
        this.profile = profile;
        this.token = token;
        this.drawW = drawUncappedW = drawCappedW = profile.idleWatts();
        this.kv = new CountedKvBlocks<>((kvTokens + CausalLm.SERVING_BLOCK_SIZE - 1) / CausalLm.SERVING_BLOCK_SIZE,
                CausalLm.SERVING_BLOCK_SIZE);
        this.scheduler = new StepScheduler<>(profile.maxBatchTokens(), kv);
        this.power = power;
    }

    /** Plans the next step (a run, where {@code runs} allows it); false when it has nothing to compute. */
    boolean planStep(boolean runs) {
        plan = scheduler.schedule(s -> { });
        chunkTokens = 0;
        decodeSequences = 0;
        runContext = 0;
        for (int i = 0; i < plan.size(); i++) {
            MachineSequence s = plan.sequence(i);
            if (plan.tokens(i) == 1 && plan.start(i) >= s.prompt) {
                decodeSequences++;
                runContext += s.tokens;
            } else {
                chunkTokens += plan.tokens(i);
            }
        }
        runSteps = 1;
        if (runs && chunkTokens == 0 && decodeSequences == scheduler.running().size()
                && scheduler.waiting().isEmpty() && awaitingBlocks.isEmpty()) {
            runSteps = runLength();
        }
        return plan.size() > 0;
    }

    /** The planned step's (or run's) time, ms, capped or not ({@link #capped}); its prefill part in {@link #runPrefillMs}. */
    double stepMs() {
        double prefill = chunkTokens == 0 ? 0 : profile.prefillMs(chunkTokens);
        double decode = decodeSequences == 0 ? 0 : runMs(runSteps);
        if (prefill > 0 && decode > 0 && profile.mixedPrefillFactor() > 0) { // one prefill of all its tokens
            prefill = profile.mixedStepMs(chunkTokens, decodeSequences, runContext);
            decode = 0;
        }
        runPrefillMs = prefill * (capped ? profile.capPrefillFactor() : 1);
        return runPrefillMs + decode;
    }

    /** The step's draw, W: a step with prompt tokens draws prefill power. */
    double stepWatts(boolean capped) {
        return profile.stepWatts(chunkTokens > 0, capped);
    }

    /** The first {@code steps} steps of a decode run, ms: each one token longer in context than the last. */
    double runMs(int steps) {
        double first = profile.decodeStepMs(decodeSequences, runContext);
        double ms = steps * first + profile.decodePerContextTokenMs() * decodeSequences * (double) steps * (steps - 1) / 2;
        return capped ? ms * profile.capDecodeFactor() : ms;
    }

    /** How many of the run's steps are over {@code elapsedMs} after it started. */
    int stepsDoneBy(double elapsedMs) {
        int lo = 0;
        int hi = runSteps;
        while (lo < hi) { // the last k with runMs(k) <= elapsed
            int mid = (lo + hi + 1) >>> 1;
            if (runMs(mid) <= elapsedMs) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /**
     * Steps of the planned decode step's sequences until the first of them ends, cut where their
     * growth would need more blocks than are free (the scheduler would preempt there).
     */
    private int runLength() {
        int steps = Integer.MAX_VALUE;
        for (int i = 0; i < plan.size(); i++) {
            MachineSequence s = plan.sequence(i);
            steps = Math.min(steps, s.limit - s.tokens); // step j leaves it tokens + j
        }
        if (extraBlocks(steps) <= kv.freeBlocks()) {
            return steps;
        }
        int lo = 1; // the first step's blocks are taken
        int hi = steps;
        while (lo < hi) { // the last k whose growth fits
            int mid = (lo + hi + 1) >>> 1;
            if (extraBlocks(mid) <= kv.freeBlocks()) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Blocks a run of {@code steps} takes beyond those held: step j computes position tokens + j − 2. */
    private long extraBlocks(int steps) {
        long extra = 0;
        for (int i = 0; i < plan.size(); i++) {
            MachineSequence s = plan.sequence(i);
            extra += Math.max(0, kv.blocksFor(s.tokens + steps - 1) - s.held);
        }
        return extra;
    }
}
