package dev.tandem.cli;

import dev.tandem.sim.AfdPlanner;
import dev.tandem.sim.AfdProfile;
import dev.tandem.sim.MachineProfile;
import dev.tandem.sim.SplitwisePlanner;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tandem plan}: Splitwise's cluster design, on the simulator. Every split of a budget into
 * prompt and token machines gets the highest rate of the trace at which all nine SLOs hold; the
 * ranking goes to stdout and the best design to {@code --out} as a cluster file for {@code tandem simulate}.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Search the prompt and token machine counts for a trace: the highest rate meeting Splitwise's"
                + " SLOs for every split of a machine count, a cost or a power budget, by simulation.")
final class PlanCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    SimulatedTraceOptions replay;

    @Spec
    CommandSpec spec;

    @Option(names = "--profile", description = "Both kinds of machine (properties, as tandem simulate takes).")
    Path profile;

    @Option(names = "--prompt-profile", description = "The prompt machines' profile, where the kinds differ.")
    Path promptProfile;

    @Option(names = "--token-profile", description = "The token machines' profile, where the kinds differ.")
    Path tokenProfile;

    @ArgGroup(exclusive = true, multiplicity = "1")
    BudgetOption budget;

    static final class BudgetOption {
        @Option(names = "--machines", description = "At most this many machines in all.")
        Integer machines;

        @Option(names = "--budget-cost", description = "At most this many dollars an hour (the profiles' cost_per_hour).")
        Double cost;

        @Option(names = "--budget-power", description = "At most this many watts at peak (the profiles' larger of"
                + " power.prefill_w and power.decode_w).")
        Double power;
    }

    @Option(names = "--prompt-kv-tokens", defaultValue = "8192", description = "KV positions a prompt machine books (default ${DEFAULT-VALUE}).")
    int promptKvTokens;

    @Option(names = "--token-kv-tokens", defaultValue = "8192", description = "KV positions a token machine books (default ${DEFAULT-VALUE}).")
    int tokenKvTokens;

    @Option(names = "--mixed-threshold-tokens", defaultValue = "4096", description = "Pending prompt tokens before"
            + " machines are lent to the mixed pool (default ${DEFAULT-VALUE}).")
    long mixedThresholdTokens;

    @Option(names = "--oversubscribe", defaultValue = "1", description = "With --budget-power: POLCA's oversubscription."
            + " Designs may draw up to this many times the budget at peak, and are simulated under the budget, machines"
            + " capped as their profiles' power.cap_w says, token machines first (default ${DEFAULT-VALUE}: none).")
    double oversubscribe;

    @Option(names = "--threads", description = "Designs simulated at once (default: the cores).")
    Integer threads;

    @Option(names = "--out", description = "Write the best design as a cluster file (tandem simulate --cluster).")
    Path out;

    @Option(names = "--afd", description = "Instead: MegaScale-Infer's plan for AFD decode from this AFD profile"
            + " (Ta, Te, Tc and sizes; bench/profiles/h200-mixtral-8x7b-afd.properties) over --machines GPUs, against"
            + " colocated GPUs timed by --profile where given.")
    Path afd;

    @Option(names = "--tbt-slo-ms", defaultValue = "150", description = "With --afd: the time-between-tokens SLO"
            + " (default ${DEFAULT-VALUE}, MegaScale-Infer's).")
    double tbtSloMs;

    @Option(names = "--afd-context", defaultValue = "1024", description = "With --afd: the context each sequence holds"
            + " (default ${DEFAULT-VALUE}).")
    int afdContext;

    @Override
    public Integer call() throws IOException {
        if (afd != null) {
            return planAfd();
        }
        if ((profile == null) == (promptProfile == null || tokenProfile == null)) {
            throw new IllegalArgumentException("give --profile, or --prompt-profile and --token-profile");
        }
        MachineProfile prompt = MachineProfile.load(profile != null ? profile : promptProfile);
        MachineProfile token = profile != null ? prompt : MachineProfile.load(tokenProfile);
        SplitwisePlanner.Budget kind = budget.machines != null ? SplitwisePlanner.Budget.MACHINES
                : budget.cost != null ? SplitwisePlanner.Budget.COST : SplitwisePlanner.Budget.POWER;
        double limit = budget.machines != null ? budget.machines : budget.cost != null ? budget.cost : budget.power;
        if (!(limit > 0)) {
            throw new IllegalArgumentException("the budget must be above 0");
        }
        if (!(oversubscribe >= 1) || oversubscribe > 1 && kind != SplitwisePlanner.Budget.POWER) {
            throw new IllegalArgumentException("--oversubscribe takes a factor >= 1, and only with --budget-power");
        }
        if (oversubscribe > 1 && !prompt.cappable() && !token.cappable()) {
            throw new IllegalArgumentException("--oversubscribe needs a profile that says what a power cap costs"
                    + " (power.cap_w, power.cap_prefill_factor, power.cap_decode_factor)");
        }
        List<int[]> splits = SplitwisePlanner.splits(kind, limit * oversubscribe, prompt, token);
        SplitwisePlanner.Settings settings = new SplitwisePlanner.Settings(replay.load(), replay.durationSeconds(300),
                replay.offset, replay.limits(), promptKvTokens, tokenKvTokens, mixedThresholdTokens,
                replay.baselineRequests, oversubscribe > 1 ? limit : 0);
        spec.commandLine().getErr().println("plan: " + splits.size() + " designs, each searched for its highest rate meeting the SLOs");
        List<SplitwisePlanner.Design> designs = SplitwisePlanner.plan(splits, prompt, token, settings,
                threads != null ? threads : Runtime.getRuntime().availableProcessors(),
                line -> spec.commandLine().getErr().println("plan: " + line));
        spec.commandLine().getOut().print(SplitwisePlanner.markdown(designs));
        spec.commandLine().getOut().flush();
        if (out != null) {
            Files.writeString(out, SplitwisePlanner.clusterFile(designs.getFirst(), settings));
            spec.commandLine().getErr().println("plan: wrote the best design to " + out);
        }
        return 0;
    }

    private int planAfd() {
        if (budget.machines == null || budget.machines < 2) {
            throw new IllegalArgumentException("--afd plans over --machines GPUs (at least 2: an attention and an expert node)");
        }
        if (!(tbtSloMs > 0) || afdContext < 1) {
            throw new IllegalArgumentException("--tbt-slo-ms and --afd-context must be above 0");
        }
        AfdProfile p = AfdProfile.load(afd);
        List<AfdPlanner.Design> designs = AfdPlanner.plan(p, budget.machines, tbtSloMs, afdContext);
        double colocated = profile == null ? 0 : AfdPlanner.colocatedPerGpu(MachineProfile.load(profile), p, tbtSloMs,
                afdContext);
        spec.commandLine().getErr().println(String.format(java.util.Locale.ROOT, "plan: %d AFD shapes of %d GPUs meet"
                        + " a %.0f ms TBT at %d-token contexts%s", designs.size(), budget.machines, tbtSloMs, afdContext,
                colocated > 0 ? String.format(java.util.Locale.ROOT, "; colocated: %.0f tokens/s a GPU", colocated) : ""));
        spec.commandLine().getOut().print(AfdPlanner.markdown(designs, colocated, 20));
        spec.commandLine().getOut().flush();
        return designs.isEmpty() ? 1 : 0;
    }
}
