package dev.tandem.sim;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ConfigFields;

import java.nio.file.Path;

/**
 * The machines a simulation runs: Splitwise's prompt and token pools, each machine with the KV
 * positions the scheduler books against. Read from the properties file {@code tandem scheduler}
 * takes ({@code prompt.nodes}, {@code token.nodes}, {@code prompt.kv_tokens}, {@code token.kv_tokens},
 * {@code mixed_threshold_tokens}); the machines' addresses and the model are not needed, so a
 * compact file of those five keys describes thousands of machines. {@code max_queued} (default
 * none) turns arrivals past that many waiting requests away, as 429s. {@code power_budget_w}
 * (default none) is POLCA's cluster power budget: machines whose profile says what a cap costs are
 * capped to stay under it, token machines first.
 */
public record SimulatedCluster(int promptMachines, int tokenMachines, int promptKvTokens, int tokenKvTokens,
                               long mixedThresholdTokens, int maxQueued, double powerBudgetWatts) {
    public static final int UNBOUNDED = Integer.MAX_VALUE;

    public SimulatedCluster {
        if (promptMachines + tokenMachines < 1) {
            throw new TandemException("a cluster needs a machine: prompt and token machines are both 0");
        }
    }

    /** No power budget. */
    public SimulatedCluster(int promptMachines, int tokenMachines, int promptKvTokens, int tokenKvTokens,
                            long mixedThresholdTokens, int maxQueued) {
        this(promptMachines, tokenMachines, promptKvTokens, tokenKvTokens, mixedThresholdTokens, maxQueued, 0);
    }

    /** The same machines under a power budget of {@code watts} (0: none). */
    public SimulatedCluster withPowerBudget(double watts) {
        return new SimulatedCluster(promptMachines, tokenMachines, promptKvTokens, tokenKvTokens, mixedThresholdTokens,
                maxQueued, watts);
    }

    public static SimulatedCluster load(Path file) {
        ConfigFields f = ConfigFields.read(file, "cluster");
        int prompt = f.intIn("prompt.nodes", 0, 10_000_000, 0);
        int token = f.intIn("token.nodes", 0, 10_000_000, 0);
        if (prompt + token == 0) {
            throw new TandemException(f.where() + ": no machines: set prompt.nodes and/or token.nodes");
        }
        return new SimulatedCluster(prompt, token, f.intIn("prompt.kv_tokens", 1, Integer.MAX_VALUE, 8192),
                f.intIn("token.kv_tokens", 1, Integer.MAX_VALUE, 8192),
                f.intIn("mixed_threshold_tokens", 0, Integer.MAX_VALUE, 4096),
                f.intIn("max_queued", 0, Integer.MAX_VALUE, UNBOUNDED), f.doubleIn("power_budget_w", 0, 1e12, 0));
    }
}
