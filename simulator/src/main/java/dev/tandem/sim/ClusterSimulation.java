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
import java.util.PriorityQueue;

/**
 * A Splitwise cluster on a virtual clock, discrete-event: requests arrive as planned, wait in
 * arrival order until the live {@link SplitwisePolicy} finds them room ({@link WaitingRequests},
 * as the live scheduler does), and every machine runs steps back to back while it has work. A
 * step takes the prompts queued on the machine, up to the profile's token budget, and one token
 * of every sequence it decodes; it lasts what the {@link MachineProfile} says of a prefill of
 * those tokens plus a decode step of those sequences. A split request's first token comes when its
 * prefill step ends; it decodes on its token machine once its KV has landed, which the profile says
 * lags the prefill by the last layer's transfer. Time is in ms from the first arrival.
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
    public record PoolUsage(int machines, double prefillMs, double decodeMs, double energyJ, double cost,
                            double[] powerW) {
        /** The pool's mean draw in each {@link #POWER_BIN_MS} of the run, W, idle machines included. */
        public double[] powerW() {
            return powerW.clone();
        }

        /** Busy time over machine time, in [0, 1]. */
        public double utilization(double wallMs) {
            return machines == 0 || wallMs <= 0 ? 0 : (prefillMs + decodeMs) / (machines * wallMs);
        }
    }

    /** The width of a power sample. */
    public static final double POWER_BIN_MS = 1000;

    private static final int STEP_END = 1;
    private static final int KV_LANDED = 2;

    private record Event(double atMs, long seq, int kind, Flight flight, Machine machine, long version) {
    }

    private static final class Flight {
        final PlannedRequest request;
        final int position; // in the plan
        final double arrivalMs;
        Route route;
        double firstTokenMs = Double.NaN;
        double lastTokenMs;
        final double[] gaps; // null when a tally takes them as they come
        int generated;

        Flight(PlannedRequest request, int position, boolean keepGaps) {
            this.request = request;
            this.position = position;
            this.arrivalMs = request.sendAtSeconds() * 1e3;
            this.gaps = keepGaps ? new double[Math.max(0, request.outputTokens() - 1)] : null;
        }

        long context() {
            return request.promptTokens() + generated;
        }
    }

    private static final class Machine {
        final MachineProfile profile;
        final ArrayDeque<Flight> prefills = new ArrayDeque<>();
        final List<Flight> decoding = new ArrayList<>();
        final List<Flight> stepPrefills = new ArrayList<>();
        final List<Flight> stepDecodes = new ArrayList<>();
        boolean stepping;
        boolean ending;      // in endStep: its run is over, its next one is planned at the end
        double prefillMs;
        double decodeMs;
        // the steps under way: one, or a run of decode steps over the same sequences (nothing else to do)
        int runSteps;
        double runStartMs;
        double runPrefillMs; // the step's time counted as prefill: its prompt part, or all of a mixed step
        long runContext;     // the sequences' tokens when the run started
        long version;        // of the scheduled end; an interrupted run's earlier end is stale
        final PowerBins power;

        Machine(MachineProfile profile, PowerBins power) {
            this.profile = profile;
            this.power = power;
        }
    }

    private final MachineProfile promptProfile;
    private final MachineProfile tokenProfile;
    private final PowerBins promptPower = new PowerBins();
    private final PowerBins tokenPower = new PowerBins();
    private final SplitwisePolicy policy;
    private final WaitingRequests<Flight> waiting;
    private final Machine[] promptMachines;
    private final Machine[] tokenMachines;
    private final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.atMs != b.atMs
            ? Double.compare(a.atMs, b.atMs) : Long.compare(a.seq, b.seq));
    private long seq;
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
        this.promptMachines = new Machine[cluster.promptMachines()];
        this.tokenMachines = new Machine[cluster.tokenMachines()];
        for (int i = 0; i < promptMachines.length; i++) {
            promptMachines[i] = new Machine(promptProfile, promptPower);
        }
        for (int i = 0; i < tokenMachines.length; i++) {
            tokenMachines[i] = new Machine(tokenProfile, tokenPower);
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
     * runs its steps as one event until a sequence ends, cut short at the step under way when new work
     * comes; the same times, far fewer events.
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
            // arrivals are read from the plan as the clock reaches them, ahead of any event at the same time
            Event e = events.peek();
            boolean arrival = next < order.length && (e == null || plan.get(order[next]).sendAtSeconds() * 1e3 <= e.atMs);
            if (!arrival && e == null) {
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
            events.poll();
            nowMs = e.atMs;
            switch (e.kind) {
                case STEP_END -> {
                    if (e.version == e.machine.version) {
                        endStep(e.machine);
                    }
                }
                case KV_LANDED -> {
                    Machine m = tokenMachines[e.flight.route.tokenMachine()];
                    m.decoding.add(e.flight);
                    newWork(m);
                }
                default -> throw new IllegalStateException("event " + e.kind);
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
                    Machine m = route.kind() == Route.Kind.ON_TOKEN ? tokenMachines[route.tokenMachine()]
                            : promptMachines[route.promptMachine()];
                    m.prefills.add(f);
                    newWork(m);
                });
    }

    /** Work came to {@code m}: it starts a step if idle, or cuts its run short at the step under way. */
    private void newWork(Machine m) {
        if (m.ending) {
            return; // planned when its step's end is done
        }
        if (!m.stepping) {
            startStep(m);
            return;
        }
        if (m.runSteps > 1) {
            int done = stepsDoneBy(m, nowMs - m.runStartMs);
            int keep = Math.min(m.runSteps, done + 1); // the step under way finishes
            if (keep < m.runSteps) {
                double full = runMs(m, m.runSteps);
                double cut = runMs(m, keep);
                m.decodeMs -= full - cut;
                m.runSteps = keep;
                m.version++;
                schedule(m.runStartMs + cut, STEP_END, null, m);
            }
        }
    }

    /** The first {@code steps} steps of {@code m}'s run, ms: each one token longer in context than the last. */
    private static double runMs(Machine m, int steps) {
        int b = m.stepDecodes.size();
        double first = m.profile.decodeStepMs(b, m.runContext);
        return steps * first + m.profile.decodePerContextTokenMs() * b * (double) steps * (steps - 1) / 2;
    }

    /** How many of the run's steps are over {@code elapsedMs} after it started. */
    private static int stepsDoneBy(Machine m, double elapsedMs) {
        int lo = 0;
        int hi = m.runSteps;
        while (lo < hi) { // the last k with runMs(k) <= elapsed
            int mid = (lo + hi + 1) >>> 1;
            if (runMs(m, mid) <= elapsedMs) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** The machine's next step: its queued prompts up to the token budget (one at least) and all it decodes. */
    private void startStep(Machine m) {
        m.stepPrefills.clear();
        m.stepDecodes.clear();
        long prefillTokens = 0;
        while (!m.prefills.isEmpty() && (m.stepPrefills.isEmpty()
                || prefillTokens + m.prefills.peek().request.promptTokens() <= m.profile.maxBatchTokens())) {
            Flight f = m.prefills.poll();
            prefillTokens += f.request.promptTokens();
            m.stepPrefills.add(f);
        }
        long context = 0;
        for (Flight f : m.decoding) {
            context += f.context();
        }
        m.stepDecodes.addAll(m.decoding);
        if (m.stepPrefills.isEmpty() && m.stepDecodes.isEmpty()) {
            m.stepping = false;
            return;
        }
        m.runSteps = 1;
        m.runStartMs = nowMs;
        m.runContext = context;
        if (stepRuns && m.stepPrefills.isEmpty() && m.prefills.isEmpty()) {
            int steps = Integer.MAX_VALUE; // until the first of them ends
            for (Flight f : m.stepDecodes) {
                steps = Math.min(steps, f.request.outputTokens() - f.generated);
            }
            m.runSteps = steps;
        }
        double prefill = m.stepPrefills.isEmpty() ? 0 : m.profile.prefillMs(prefillTokens);
        double decode = m.stepDecodes.isEmpty() ? 0 : runMs(m, m.runSteps);
        if (prefill > 0 && decode > 0 && m.profile.mixedPrefillFactor() > 0) { // one prefill of all its tokens
            prefill = m.profile.mixedStepMs(prefillTokens, m.stepDecodes.size(), context);
            decode = 0;
        }
        m.runPrefillMs = prefill;
        m.prefillMs += prefill;
        m.decodeMs += decode;
        m.stepping = true;
        m.version++;
        schedule(nowMs + prefill + decode, STEP_END, null, m);
    }

    /**
     * The step's tokens land. Like the live scheduler, which routes after each node line that frees
     * something, the waiting requests are routed after each prefill that ends and each request that ends.
     */
    private void endStep(Machine m) {
        m.ending = true;
        double prefillMs = m.runPrefillMs;
        m.power.add(m.runStartMs, m.runStartMs + prefillMs, m.profile.prefillWatts() - m.profile.idleWatts());
        m.power.add(m.runStartMs + prefillMs, nowMs, m.profile.decodeWatts() - m.profile.idleWatts());
        for (Flight f : m.stepDecodes) { // a run's tokens: no sequence ends before its last step
            if (f.gaps == null) { // its first gap is its own; the run's later ones are every sequence's (below)
                tally.gaps(tokenAtMs(m, prefillMs, 1) - f.lastTokenMs, 1);
                f.generated += m.runSteps;
                f.lastTokenMs = nowMs;
            } else {
                for (int j = 1; j <= m.runSteps; j++) {
                    double at = tokenAtMs(m, prefillMs, j);
                    f.gaps[f.generated - 1] = at - f.lastTokenMs;
                    f.lastTokenMs = at;
                    f.generated++;
                }
            }
            if (f.generated == f.request.outputTokens()) {
                m.decoding.remove(f);
                finish(f);
                routeWaiting();
            }
        }
        if (tally != null) {
            for (int j = 2; j <= m.runSteps; j++) {
                tally.gaps(tokenAtMs(m, prefillMs, j) - tokenAtMs(m, prefillMs, j - 1), m.stepDecodes.size());
            }
        }
        for (Flight f : m.stepPrefills) {
            f.firstTokenMs = nowMs;
            f.lastTokenMs = nowMs;
            f.generated = 1;
            policy.prefillDone(f.route); // the prompt machine's queue shrank
            if (decisions != null) {
                decisions.accept("first " + f.request.index());
            }
            if (f.request.outputTokens() == 1) {
                finish(f);
            } else if (f.route.kind() == Route.Kind.SPLIT) {
                schedule(nowMs + m.profile.kvExposedMs(f.request.promptTokens()), KV_LANDED, f, null);
            } else {
                m.decoding.add(f); // a mixed-pool machine decodes what it prefilled
            }
            routeWaiting();
        }
        m.ending = false;
        startStep(m);
    }

    /** When the run's {@code j}-th token (1-based) lands: the last at the run's end. */
    private double tokenAtMs(Machine m, double prefillMs, int j) {
        return j == m.runSteps ? nowMs : m.runStartMs + prefillMs + runMs(m, j);
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
            tally.completed(f.request, f.arrivalMs, ttftMs, e2eMs, f.request.outputTokens());
        } else {
            outcomes[f.position] = new RequestOutcome(f.request, f.arrivalMs, 200, null, null, ttftMs, f.gaps, e2eMs,
                    f.request.outputTokens());
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

    /** Energy above idle in bins of {@link #POWER_BIN_MS}, J: what turns into a pool's power over time. */
    private static final class PowerBins {
        private double[] joules = new double[16];

        /** {@code watts} over [from, to) ms. */
        void add(double fromMs, double toMs, double watts) {
            for (double t = fromMs; t < toMs && watts != 0; ) {
                int bin = (int) (t / POWER_BIN_MS);
                double end = Math.min(toMs, (bin + 1) * POWER_BIN_MS);
                if (bin >= joules.length) {
                    joules = Arrays.copyOf(joules, Math.max(bin + 1, 2 * joules.length));
                }
                joules[bin] += watts * (end - t) / 1e3;
                t = end;
            }
        }

        /** The mean draw of each bin up to {@code wallMs}, W, {@code idleWatts} under it all. */
        double[] watts(double wallMs, double idleWatts) {
            int bins = (int) Math.ceil(wallMs / POWER_BIN_MS);
            double[] w = new double[bins];
            for (int b = 0; b < bins; b++) {
                double width = Math.min(POWER_BIN_MS, wallMs - b * POWER_BIN_MS) / 1e3;
                w[b] = idleWatts + (b < joules.length && width > 0 ? joules[b] / width : 0);
            }
            return w;
        }
    }

    private void schedule(double atMs, int kind, Flight flight, Machine machine) {
        events.add(new Event(atMs, seq++, kind, flight, machine, machine == null ? 0 : machine.version));
    }

    private static PoolUsage usage(Machine[] machines, MachineProfile profile, PowerBins power, double wallMs) {
        double prefill = 0;
        double decode = 0;
        for (Machine m : machines) {
            prefill += m.prefillMs;
            decode += m.decodeMs;
        }
        double idle = Math.max(0, machines.length * wallMs - prefill - decode);
        double energyJ = (prefill * profile.prefillWatts() + decode * profile.decodeWatts()
                + idle * profile.idleWatts()) / 1e3;
        double cost = machines.length * profile.costPerHour() * wallMs / 3.6e6;
        return new PoolUsage(machines.length, prefill, decode, energyJ, cost,
                power.watts(wallMs, machines.length * profile.idleWatts()));
    }
}
