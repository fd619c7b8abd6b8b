package dev.tandem.sim;

import dev.tandem.bench.serve.LengthLimits;
import dev.tandem.bench.serve.Trace;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Splitwise's cluster design on the simulator: for every split of a budget into prompt and token
 * machines (a count of one kind of machine, a cost, or a power budget when the two kinds differ),
 * the highest request rate of the trace at which all nine of Splitwise's SLOs hold, found by
 * simulating it ({@link SimulatedServe}); designs ranked by that rate.
 */
public final class SplitwisePlanner {
    /** How every design is simulated; {@code powerBudgetWatts} (0: none) caps machines as POLCA does. */
    public record Settings(Trace trace, double durationSeconds, double offsetSeconds, LengthLimits limits,
                           int promptKvTokens, int tokenKvTokens, long mixedThresholdTokens, int baselineRequests,
                           double powerBudgetWatts) {
        /** No power budget. */
        public Settings(Trace trace, double durationSeconds, double offsetSeconds, LengthLimits limits,
                        int promptKvTokens, int tokenKvTokens, long mixedThresholdTokens, int baselineRequests) {
            this(trace, durationSeconds, offsetSeconds, limits, promptKvTokens, tokenKvTokens, mixedThresholdTokens,
                    baselineRequests, 0);
        }
    }

    /** One split and the highest rate it meets the SLOs at (0: none tried did). */
    public record Design(int promptMachines, int tokenMachines, double maxRate, double costPerHour, double peakWatts) {
        public SimulatedCluster cluster(Settings s) {
            return new SimulatedCluster(promptMachines, tokenMachines, s.promptKvTokens(), s.tokenKvTokens(),
                    s.mixedThresholdTokens(), SimulatedCluster.UNBOUNDED, s.powerBudgetWatts());
        }
    }

    /** What bounds a design: at most this many machines, dollars an hour, or watts at peak in all. */
    public enum Budget { MACHINES, COST, POWER }

    private static final int BISECTIONS = 6;
    private static final double MAX_RATE = 1e6;

    private SplitwisePlanner() {
    }

    /** Every (prompt, token) count that fills {@code limit} of {@code budget}: no machine of either kind fits beside it. */
    public static List<int[]> splits(Budget budget, double limit, MachineProfile prompt, MachineProfile token) {
        List<int[]> splits = new ArrayList<>();
        double promptUnit = unit(budget, prompt);
        double tokenUnit = unit(budget, token);
        if (!(promptUnit > 0 && tokenUnit > 0)) {
            throw new IllegalArgumentException("a " + budget.name().toLowerCase(Locale.ROOT) + " budget needs each"
                    + " profile's " + (budget == Budget.COST ? "cost_per_hour" : "power.prefill_w and power.decode_w")
                    + " above 0");
        }
        for (int p = 0; p * promptUnit <= limit + 1e-9; p++) {
            int t = (int) Math.floor((limit - p * promptUnit) / tokenUnit + 1e-9);
            if (p + t > 0 && (p + 1) * promptUnit + t * tokenUnit > limit + 1e-9) {
                splits.add(new int[] {p, t});
            }
        }
        return splits;
    }

    private static double unit(Budget budget, MachineProfile profile) {
        return switch (budget) {
            case MACHINES -> 1;
            case COST -> profile.costPerHour();
            case POWER -> peakWatts(profile);
        };
    }

    private static double peakWatts(MachineProfile profile) {
        return Math.max(profile.prefillWatts(), profile.decodeWatts());
    }

    /** Each split's highest passing rate, on {@code threads} threads; ranked best first. */
    public static List<Design> plan(List<int[]> splits, MachineProfile prompt, MachineProfile token, Settings s,
                                    int threads, Consumer<String> log) {
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads),
                Thread.ofPlatform().name("plan-", 0).daemon(true).factory());
        try {
            List<Future<Design>> futures = new ArrayList<>();
            for (int[] split : splits) {
                futures.add(pool.submit(() -> {
                    Design d = design(split[0], split[1], prompt, token, s);
                    log.accept(String.format(Locale.ROOT, "%d prompt + %d token machines: %s", d.promptMachines(),
                            d.tokenMachines(), d.maxRate() > 0 ? "SLOs met up to " + rate(d.maxRate()) + " req/s"
                                    : "SLOs missed at every rate tried"));
                    return d;
                }));
            }
            List<Design> designs = new ArrayList<>();
            for (Future<Design> f : futures) {
                designs.add(f.get());
            }
            designs.sort(Comparator.comparingDouble(Design::maxRate).reversed()
                    .thenComparingDouble(Design::costPerHour).thenComparingDouble(Design::peakWatts));
            return designs;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("planning interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The highest rate at which {@code p} prompt and {@code t} token machines meet the SLOs: rates doubling from
     * far below the machines' count until three in a row fail, then bisection above the highest that passed.
     * Passing is not monotone at low load: a short prompt that arrives during a decode step waits for it, which
     * alone it never does, so a light load can miss TTFT's P90 that a heavier one meets. Stopping at the first
     * failure read 1.8 req/s for eight colocated H200s that meet the SLOs at 10.
     */
    static Design design(int p, int t, MachineProfile prompt, MachineProfile token, Settings s) {
        SimulatedCluster cluster = new Design(p, t, 0, 0, 0).cluster(s);
        double pass = 0;
        int failsInARow = 0;
        for (double r = (p + t) / 64.0; r <= MAX_RATE && failsInARow < 3; r *= 2) {
            if (meets(cluster, r, prompt, token, s)) {
                pass = r;
                failsInARow = 0;
            } else {
                failsInARow++;
            }
        }
        double fail = 2 * pass;
        for (int i = 0; pass > 0 && i < BISECTIONS; i++) {
            double mid = (pass + fail) / 2;
            if (meets(cluster, mid, prompt, token, s)) {
                pass = mid;
            } else {
                fail = mid;
            }
        }
        return new Design(p, t, pass, p * prompt.costPerHour() + t * token.costPerHour(),
                p * peakWatts(prompt) + t * peakWatts(token));
    }

    private static boolean meets(SimulatedCluster cluster, double rate, MachineProfile prompt, MachineProfile token,
                                 Settings s) {
        return SimulatedServe.run(s.trace(), new double[] {rate}, s.durationSeconds(), s.offsetSeconds(), s.limits(),
                cluster, prompt, token, s.baselineRequests(), line -> { }).report().rates().getFirst().sloPass();
    }

    /** The ranking as a markdown table. */
    public static String markdown(List<Design> designs) {
        StringBuilder sb = new StringBuilder("| rank | prompt | token | SLOs met up to req/s | $/h | peak kW | req/s per $/h | req/s per kW |\n");
        sb.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < designs.size(); i++) {
            Design d = designs.get(i);
            sb.append(String.format(Locale.ROOT, "| %d | %d | %d | %s | %.2f | %.2f | %s | %s |%n", i + 1,
                    d.promptMachines(), d.tokenMachines(), rate(d.maxRate()), d.costPerHour(), d.peakWatts() / 1e3,
                    d.costPerHour() > 0 ? rate(d.maxRate() / d.costPerHour()) : "-",
                    d.peakWatts() > 0 ? rate(d.maxRate() / (d.peakWatts() / 1e3)) : "-"));
        }
        return sb.toString();
    }

    /** The design as the compact cluster file {@link SimulatedCluster#load} (and so {@code tandem simulate}) reads. */
    public static String clusterFile(Design d, Settings s) {
        return String.format(Locale.ROOT, """
                # tandem plan's best design: %d prompt + %d token machines, SLOs met up to %s req/s
                prompt.nodes = %d
                token.nodes = %d
                prompt.kv_tokens = %d
                token.kv_tokens = %d
                mixed_threshold_tokens = %d
                """, d.promptMachines(), d.tokenMachines(), rate(d.maxRate()), d.promptMachines(), d.tokenMachines(),
                s.promptKvTokens(), s.tokenKvTokens(), s.mixedThresholdTokens())
                + (s.powerBudgetWatts() > 0 ? String.format(Locale.ROOT, "power_budget_w = %.0f%n", s.powerBudgetWatts()) : "");
    }

    private static String rate(double r) {
        return r >= 100 ? String.format(Locale.ROOT, "%.0f", r) : String.format(Locale.ROOT, "%.3g", r);
    }
}
