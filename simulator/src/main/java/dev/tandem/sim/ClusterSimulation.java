package dev.tandem.sim;

import dev.tandem.bench.serve.OutcomeTally;
import dev.tandem.bench.serve.PlannedRequest;
import dev.tandem.bench.serve.RequestOutcome;
import dev.tandem.scheduling.Route;
import dev.tandem.scheduling.SplitwisePolicy;
import dev.tandem.scheduling.WaitingRequests;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Splitwise cluster on a virtual clock, discrete-event: requests arrive as planned, wait in
 * arrival order until the live {@link SplitwisePolicy} finds them room ({@link WaitingRequests},
 * as the live scheduler does), and every machine batches as the live engine does
 * ({@link SimulatedMachine}: the live {@code StepScheduler}, steps timed by the
 * {@link MachineProfile}), stepping back to back while it has work. A split request's first token
 * comes when its prompt machine computes the prompt's last token; it decodes on its token machine
 * once its KV has landed, which the profile says lags the prefill by the last layer's transfer, and
 * found blocks there. Time is in ms from the first arrival.
 * <p>
 * One thread; a simulation runs once.
 */
public final class ClusterSimulation {
    /**
     * Everything a run measured: one outcome per planned request (plan order; none when a tally took them),
     * and each pool's machines.
     */
    public record Result(List<RequestOutcome> outcomes, double wallMs, PoolUsage prompt, PoolUsage token) {
    }

    /**
     * A pool's machines over the run: time spent prefilling and decoding, summed over them (ms), and
     * what they drew and cost over the run's wall time, idle time included.
     */
    public record PoolUsage(int machines, double prefillMs, double decodeMs, double cappedMs, double energyJ,
                            double cost, double[] powerW) {
        /** The pool's mean draw in each {@link #POWER_BIN_MS} of the run, W, idle machines included. */
        public double[] powerW() {
            return powerW.clone();
        }

        /** Of the busy time, the share its machines stepped under a power cap, in [0, 1]. */
        public double cappedShare() {
            return prefillMs + decodeMs <= 0 ? 0 : cappedMs / (prefillMs + decodeMs);
        }

        /** Busy time over machine time, in [0, 1]. */
        public double utilization(double wallMs) {
            return machines == 0 || wallMs <= 0 ? 0 : (prefillMs + decodeMs) / (machines * wallMs);
        }
    }

    /** Caps come off once the cluster would draw less than this share of its budget uncapped. */
    static final double UNCAP_BELOW = 0.95;

    /** The width of a power sample. */
    public static final double POWER_BIN_MS = 1000;


    private final MachineProfile promptProfile;
    private final MachineProfile tokenProfile;
    private final PowerBins promptPower = new PowerBins();
    private final PowerBins tokenPower = new PowerBins();
    private final SplitwisePolicy policy;
    private final WaitingRequests<Flight> waiting;
    private final SimulatedMachine[] promptMachines;
    private final SimulatedMachine[] tokenMachines;
    private final SimulatedMachine[] machines;                // prompt machines, then token machines: their ids
    private final EventHeap stepEnds = new EventHeap();       // by machine id: the end of its step under way
    private final EventHeap kvLandings = new EventHeap();     // by slot: a split request's KV on its token machine
    private Flight[] landingFlights = new Flight[16];         // (slot)
    private int[] freeSlots = new int[16];
    private int freeSlotCount;
    private int slotsUsed;
    private long seq;                                         // ties between events at one time: scheduled first, first
    private final double powerBudgetW;                        // POLCA's; 0: none
    private final ClusterDraw draw;
    private boolean tokenCapped;
    private boolean promptCapped;
    private double nowMs;
    private boolean ran;
    private java.util.function.Consumer<String> decisions; // null: nobody listens, no line is built
    private boolean stepRuns = true;
    private java.util.function.Consumer<String> progress;
    private long progressEveryNs = java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
    private int ended;
    private RequestOutcome[] outcomes; // by plan position; null when a tally takes them
    private OutcomeTally tally;

    public ClusterSimulation(SimulatedCluster cluster, MachineProfile profile) {
        this(cluster, profile, profile);
    }

    /** Prompt machines of one kind and token machines of another, as Splitwise's heterogeneous designs pair them. */
    public ClusterSimulation(SimulatedCluster cluster, MachineProfile promptProfile, MachineProfile tokenProfile) {
        this.promptProfile = promptProfile;
        this.tokenProfile = tokenProfile;
        long[] promptKv = new long[cluster.promptMachines()];
        long[] tokenKv = new long[cluster.tokenMachines()];
        Arrays.fill(promptKv, cluster.promptKvTokens());
        Arrays.fill(tokenKv, cluster.tokenKvTokens());
        this.policy = new SplitwisePolicy(promptKv, tokenKv, cluster.mixedThresholdTokens());
        this.waiting = new WaitingRequests<>(cluster.maxQueued());
        this.promptMachines = new SimulatedMachine[cluster.promptMachines()];
        this.tokenMachines = new SimulatedMachine[cluster.tokenMachines()];
        for (int i = 0; i < promptMachines.length; i++) {
            promptMachines[i] = new SimulatedMachine(promptProfile, false, cluster.promptKvTokens(), promptPower);
        }
        for (int i = 0; i < tokenMachines.length; i++) {
            tokenMachines[i] = new SimulatedMachine(tokenProfile, true, cluster.tokenKvTokens(), tokenPower);
        }
        this.powerBudgetW = cluster.powerBudgetWatts();
        this.draw = new ClusterDraw(promptMachines, tokenMachines);
        this.machines = new SimulatedMachine[promptMachines.length + tokenMachines.length];
        for (int i = 0; i < machines.length; i++) {
            machines[i] = i < promptMachines.length ? promptMachines[i] : tokenMachines[i - promptMachines.length];
            machines[i].id = i;
        }
    }

    /**
     * Hears every decision and the events that lead to them, in order, as lines: "arrive I", "route I KIND P T"
     * (the request's index, its {@link Route.Kind}, prompt and token machine, -1 for none), "first I" (its prefill
     * is done), "end I", "reject I STATUS". The live scheduler, fed the same events, routes alike.
     */
    public ClusterSimulation decisions(java.util.function.Consumer<String> listener) {
        this.decisions = listener;
        return this;
    }

    /**
     * Off: every decode step is an event of its own. On (the default): a machine with only decode work
     * runs its steps as one event until a sequence ends (or its blocks would run out), cut short at the
     * step under way when new work comes; the same times, far fewer events.
     */
    ClusterSimulation stepRuns(boolean on) {
        this.stepRuns = on;
        return this;
    }

    /** A line on {@code listener} every {@code everySeconds} of wall time while it runs: how far the clock and the requests are. */
    public ClusterSimulation progress(java.util.function.Consumer<String> listener, double everySeconds) {
        this.progress = listener;
        this.progressEveryNs = (long) (everySeconds * 1e9);
        return this;
    }

    /** Runs the plan to the end: every request completes, is turned away (429), or can never fit (400). */
    public Result run(List<PlannedRequest> plan) {
        outcomes = new RequestOutcome[plan.size()];
        return simulate(plan);
    }

    /**
     * As {@link #run(List)}, each request's figures going into {@code tally} as it ends instead of an
     * outcome kept for it: what a run of millions of requests can hold. The result has no outcomes.
     */
    public Result run(List<PlannedRequest> plan, OutcomeTally tally) {
        this.tally = tally;
        return simulate(plan);
    }

    private Result simulate(List<PlannedRequest> plan) {
        if (ran) {
            throw new IllegalStateException("a simulation runs once");
        }
        ran = true;
        int[] order = arrivalOrder(plan);
        long nextProgressNs = System.nanoTime() + progressEveryNs;
        double lastArrivalMs = order.length == 0 ? 0 : plan.get(order[order.length - 1]).sendAtSeconds() * 1e3;
        long polled = 0;
        int next = 0;
        while (true) {
            // the earlier of the next step end and the next KV landing; arrivals are read from the plan as the
            // clock reaches them, ahead of any event at the same time
            boolean landing = !kvLandings.isEmpty() && (stepEnds.isEmpty() || kvLandings.peekAtMs() < stepEnds.peekAtMs()
                    || kvLandings.peekAtMs() == stepEnds.peekAtMs() && kvLandings.peekSeq() < stepEnds.peekSeq());
            boolean none = stepEnds.isEmpty() && kvLandings.isEmpty();
            double eventMs = none ? Double.POSITIVE_INFINITY : landing ? kvLandings.peekAtMs() : stepEnds.peekAtMs();
            boolean arrival = next < order.length && plan.get(order[next]).sendAtSeconds() * 1e3 <= eventMs;
            if (!arrival && none) {
                break;
            }
            if (progress != null && (++polled & 0xFF) == 0 && System.nanoTime() - nextProgressNs > 0) {
                nextProgressNs = System.nanoTime() + progressEveryNs;
                progress.accept(String.format(java.util.Locale.ROOT, "%.0f of %.0f s of arrivals simulated, %d of %d"
                        + " requests ended", nowMs / 1e3, lastArrivalMs / 1e3, ended, plan.size()));
            }
            if (arrival) {
                Flight f = new Flight(plan.get(order[next]), order[next], outcomes != null);
                next++;
                nowMs = f.arrivalMs;
                arrive(f);
                continue;
            }
            nowMs = eventMs;
            if (landing) {
                int slot = kvLandings.poll();
                Flight f = landingFlights[slot];
                landingFlights[slot] = null;
                freeSlots[freeSlotCount++] = slot;
                kvLanded(f);
            } else {
                endStep(machines[stepEnds.poll()]);
            }
        }
        double wallMs = nowMs;
        if (ended != plan.size()) {
            throw new IllegalStateException((plan.size() - ended) + " requests never ended: the simulation lost them");
        }
        return new Result(outcomes == null ? List.of() : List.of(outcomes), wallMs,
                usage(promptMachines, promptProfile, promptPower, wallMs),
                usage(tokenMachines, tokenProfile, tokenPower, wallMs));
    }

    /** Plan positions by arrival time, plan order among equal times (a plan is usually in order already). */
    private static int[] arrivalOrder(List<PlannedRequest> plan) {
        int[] order = new int[plan.size()];
        boolean sorted = true;
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
            sorted &= i == 0 || plan.get(i - 1).sendAtSeconds() <= plan.get(i).sendAtSeconds();
        }
        if (!sorted) {
            order = java.util.stream.IntStream.range(0, order.length).boxed()
                    .sorted(java.util.Comparator.comparingDouble(i -> plan.get(i).sendAtSeconds()))
                    .mapToInt(Integer::intValue).toArray(); // a stable sort: ties keep plan order
        }
        return order;
    }

    private void arrive(Flight f) {
        if (decisions != null) {
            decisions.accept("arrive " + f.request.index());
        }
        if (f.request.promptTokens() + 1L > policy.largestKv()) { // as the live scheduler: it would wait forever
            fail(f, 400, "http_400", "the prompt and its first token need " + (f.request.promptTokens() + 1)
                    + " KV positions; the largest machine has " + policy.largestKv());
            if (decisions != null) {
                decisions.accept("reject " + f.request.index() + " 400");
            }
            return;
        }
        if (!waiting.offer(f)) {
            fail(f, 429, RequestOutcome.ERROR_429, waiting.size() + " requests are already waiting for a machine");
            if (decisions != null) {
                decisions.accept("reject " + f.request.index() + " 429");
            }
            return;
        }
        routeWaiting();
    }

    private void routeWaiting() {
        waiting.routeWaiting(policy, f -> f.request.promptTokens(),
                f -> f.request.promptTokens() + f.request.outputTokens(), (f, route) -> {
                    f.route = route;
                    if (decisions != null) {
                        decisions.accept("route " + f.request.index() + " " + route.kind() + " " + route.promptMachine()
                                + " " + route.tokenMachine());
                    }
                    SimulatedMachine m = route.kind() == Route.Kind.ON_TOKEN ? tokenMachines[route.tokenMachine()]
                            : promptMachines[route.promptMachine()];
                    m.scheduler.add(route.kind() == Route.Kind.SPLIT ? MachineSequence.prefill(f)
                            : MachineSequence.whole(f));
                    newWork(m);
                });
    }

    /**
     * POLCA's policy, at each step start under a power budget: whether {@code m}'s step runs capped. With every
     * machine uncapped the cluster's draw (its stepping machines, {@code m}'s step beside them, the idle at idle
     * power) fits: no cap. Else token machines are capped first, since they lose least by it (a decode step is
     * bound by memory, not power), and prompt machines only when that is not enough. A cap set on the token
     * pool cuts its decode runs at the step under way, so that it takes effect within a step; it is lifted once
     * the uncapped draw falls below {@link #UNCAP_BELOW} of the budget.
     */
    private boolean capFor(SimulatedMachine m) {
        double uncapped = draw.uncapped() - m.drawUncappedW + m.stepWatts(false);
        boolean wasTokenCapped = tokenCapped;
        if (uncapped <= powerBudgetW * UNCAP_BELOW || uncapped <= powerBudgetW && !tokenCapped) {
            tokenCapped = false;
            promptCapped = false;
        } else if (uncapped > powerBudgetW) {
            tokenCapped = true;
            double tokensCapped = draw.promptUncapped() + draw.tokenCapped()
                    - (m.token ? m.drawCappedW - m.stepWatts(true) : m.drawUncappedW - m.stepWatts(false));
            promptCapped = tokensCapped > powerBudgetW;
        }
        if (tokenCapped && !wasTokenCapped && tokenProfile.cappable()) {
            for (SimulatedMachine t : tokenMachines) {
                if (t != m && t.stepping && !t.capped) {
                    cutRun(t);
                }
            }
        }
        return m.token ? tokenCapped : promptCapped;
    }

    /** A split request's KV is on its token machine: it decodes there once blocks for it are free (as the live node). */
    private void kvLanded(Flight f) {
        SimulatedMachine m = tokenMachines[f.route.tokenMachine()];
        MachineSequence s = MachineSequence.resumed(f);
        if (!m.awaitingBlocks.isEmpty() || !m.kv.reserve(s, Math.min(s.limit, s.prompt + 1))) {
            m.awaitingBlocks.add(s);
        } else {
            m.scheduler.add(s);
        }
        newWork(m);
    }

    /** Work came to {@code m}: it starts a step if idle, or cuts its run short at the step under way. */
    private void newWork(SimulatedMachine m) {
        if (m.ending) {
            return; // planned when its step's end is done
        }
        if (!m.stepping) {
            startStep(m);
            return;
        }
        cutRun(m);
    }

    /** Ends {@code m}'s run of decode steps at the step under way, if it has more to go. */
    private void cutRun(SimulatedMachine m) {
        if (m.runSteps > 1) {
            int done = m.stepsDoneBy(nowMs - m.runStartMs);
            int keep = Math.min(m.runSteps, done + 1); // the step under way finishes
            if (keep < m.runSteps) {
                double full = m.runMs(m.runSteps);
                double cut = m.runMs(keep);
                m.decodeMs -= full - cut;
                if (m.capped) {
                    m.cappedMs -= full - cut;
                }
                m.runSteps = keep;
                stepEnds.put(m.id, m.runStartMs + cut, seq++); // the later end it had is gone
            }
        }
    }

    /** The machine's next step, as its scheduler plans it; idle when nothing is left to compute. */
    private void startStep(SimulatedMachine m) {
        while (!m.planStep(stepRuns)) {
            if (m.scheduler.running().isEmpty()) {
                if (!m.scheduler.waiting().isEmpty()) { // the policy books a request's KV before it comes
                    throw new IllegalStateException("a machine of " + m.kv.totalBlocks() + " KV blocks cannot admit"
                            + " request " + m.scheduler.waiting().peek().flight.request.index());
                }
                m.stepping = false;
                return;
            }
            retire(m); // what is left ended without a step: it outgrew the cache
        }
        m.runStartMs = nowMs;
        m.capped = powerBudgetW > 0 && capFor(m) && m.profile.cappable();
        draw.set(m, m.stepWatts(m.capped), m.stepWatts(false), m.stepWatts(true));
        double ms = m.stepMs();
        if (m.capped) {
            m.cappedMs += ms;
        }
        m.prefillMs += m.runPrefillMs;
        m.decodeMs += ms - m.runPrefillMs;
        m.stepping = true;
        stepEnds.put(m.id, nowMs + ms, seq++);
    }

    /**
     * The step's tokens land: each sequence the step caught up samples one (a run: one a step).
     * Like the live scheduler, which routes after each node line that frees something, the waiting
     * requests are routed after each first token and each request that ends.
     */
    private void endStep(SimulatedMachine m) {
        m.ending = true;
        double prefillMs = m.runPrefillMs;
        m.power.add(m.runStartMs, m.runStartMs + prefillMs, m.profile.stepWatts(true, m.capped) - m.profile.idleWatts());
        m.power.add(m.runStartMs + prefillMs, nowMs, m.profile.stepWatts(false, m.capped) - m.profile.idleWatts());
        double idle = m.profile.idleWatts();
        draw.set(m, idle, idle, idle);
        var plan = m.plan;
        int steps = m.runSteps;
        for (int i = 0; i < plan.size(); i++) {
            if (!plan.catchesUp(i)) {
                continue; // a prompt chunk short of the prompt's end
            }
            MachineSequence s = plan.sequence(i);
            if (steps > 1 && !m.kv.reserve(s, s.tokens + steps - 1)) { // the run was sized to fit
                throw new IllegalStateException("a decode run outgrew the blocks it was sized for");
            }
            s.computed = s.tokens + steps - 1;
            Flight f = s.flight;
            if (f.gaps == null && steps > 1) { // its first gap is its own; the run's later ones are every sequence's
                token(f, tokenAtMs(m, prefillMs, 1));
                f.generated += steps - 1;
                f.lastTokenMs = nowMs;
            } else {
                for (int j = 1; j <= steps; j++) {
                    token(f, tokenAtMs(m, prefillMs, j));
                }
            }
            s.tokens += steps;
            s.finished = s.tokens >= s.limit;
            if (f.generated == 1) {
                policy.prefillDone(f.route); // the prompt machine's queue shrank
                if (decisions != null) {
                    decisions.accept("first " + f.request.index());
                }
                routeWaiting();
            }
        }
        if (tally != null) {
            for (int j = 2; j <= steps; j++) {
                tally.gaps(tokenAtMs(m, prefillMs, j) - tokenAtMs(m, prefillMs, j - 1), plan.size());
            }
        }
        retire(m);
        m.ending = false;
        startStep(m);
    }

    /** A token of {@code f} at {@code atMs}: its first, or a gap after the last. */
    private void token(Flight f, double atMs) {
        if (f.generated == 0) {
            f.firstTokenMs = atMs;
        } else if (f.gaps != null) {
            f.gaps[f.generated - 1] = atMs - f.lastTokenMs;
        } else {
            tally.gaps(atMs - f.lastTokenMs, 1);
        }
        f.lastTokenMs = atMs;
        f.generated++;
    }

    /** {@code m}'s finished sequences leave it: a split request's prompt moves on, the rest end; blocks freed are given out. */
    private void retire(SimulatedMachine m) {
        m.scheduler.retireFinished(s -> {
            Flight f = s.flight;
            if (s.prefillOnly && f.request.outputTokens() > 1) {
                scheduleLanding(f, nowMs + m.profile.kvExposedMs(f.request.promptTokens()));
            } else {
                finish(f);
                routeWaiting();
            }
        });
        while (!m.awaitingBlocks.isEmpty()) {
            MachineSequence s = m.awaitingBlocks.peek();
            if (!m.kv.reserve(s, Math.min(s.limit, s.prompt + 1))) {
                break;
            }
            m.scheduler.add(m.awaitingBlocks.poll());
        }
    }

    /** When the run's {@code j}-th token (1-based) lands: the last at the run's end. */
    private double tokenAtMs(SimulatedMachine m, double prefillMs, int j) {
        return j == m.runSteps ? nowMs : m.runStartMs + prefillMs + m.runMs(j);
    }

    private void finish(Flight f) {
        ended++;
        if (decisions != null) {
            decisions.accept("end " + f.request.index());
        }
        policy.finished(f.route, true);
        double ttftMs = f.firstTokenMs - f.arrivalMs;
        double e2eMs = f.lastTokenMs - f.arrivalMs;
        if (tally != null) {
            tally.completed(f.request, f.arrivalMs, ttftMs, e2eMs, f.generated);
        } else { // fewer tokens than asked only where a sequence outgrew a machine's whole cache
            double[] gaps = f.generated == f.request.outputTokens() ? f.gaps
                    : Arrays.copyOf(f.gaps, Math.max(0, f.generated - 1));
            outcomes[f.position] = new RequestOutcome(f.request, f.arrivalMs, 200, null, null, ttftMs, gaps, e2eMs,
                    f.generated);
        }
    }

    private void fail(Flight f, int status, String error, String message) {
        ended++;
        if (tally != null) {
            tally.failed(f.request, f.arrivalMs, error, message);
        } else {
            outcomes[f.position] = RequestOutcome.failed(f.request, f.arrivalMs, status, error, message);
        }
    }

    private void scheduleLanding(Flight f, double atMs) {
        int slot;
        if (freeSlotCount > 0) {
            slot = freeSlots[--freeSlotCount];
        } else {
            slot = slotsUsed++;
            if (slot == landingFlights.length) {
                landingFlights = Arrays.copyOf(landingFlights, 2 * slot);
                freeSlots = Arrays.copyOf(freeSlots, 2 * slot);
            }
        }
        landingFlights[slot] = f;
        kvLandings.put(slot, atMs, seq++);
    }

    private static PoolUsage usage(SimulatedMachine[] machines, MachineProfile profile, PowerBins power, double wallMs) {
        double prefill = 0;
        double decode = 0;
        double capped = 0;
        for (SimulatedMachine m : machines) {
            prefill += m.prefillMs;
            decode += m.decodeMs;
            capped += m.cappedMs;
        }
        double cost = machines.length * profile.costPerHour() * wallMs / 3.6e6;
        // the energy is the power bins' (what the steps drew above idle, caps included) and the idle under it all
        return new PoolUsage(machines.length, prefill, decode, capped,
                power.joulesAboveIdle() + machines.length * profile.idleWatts() * wallMs / 1e3, cost,
                power.watts(wallMs, machines.length * profile.idleWatts()));
    }
}
