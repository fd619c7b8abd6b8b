package dev.tandem.scheduling;

import java.util.Arrays;

/**
 * Splitwise's machine pools and join-the-shortest-queue routing, as plain bookkeeping: no I/O and
 * no threads, so the same policy runs live and in tests. The caller serialises calls.
 *
 * <p>A request gets the prompt machine with the fewest pending prompt tokens and the token machine
 * with the most free KV positions, which reserves them all before prefill starts. When every prompt
 * machine has more than {@code mixedThresholdTokens} pending, the chosen token machine joins the
 * mixed pool and runs the prompt itself; when no token machine has room, the least loaded prompt
 * machine joins the mixed pool and runs the whole request. A machine goes home once it holds no
 * foreign work. Returns no route when nothing fits: the request waits. A request longer than a
 * machine's whole cache (a chat request without {@code max_tokens} asks for the model's context)
 * reserves that whole cache: the machine's engine takes blocks as the sequence grows and ends it
 * with "length" where the cache ends, so it still runs, alone on that machine's books.
 */
public final class SplitwisePolicy {
    public enum Pool { PROMPT, TOKEN, MIXED }

    private final long mixedThresholdTokens;
    private final long[] promptPending;   // (prompt machines) prompt tokens routed, not prefilled yet
    private final long[] promptKvFree;    // (prompt machines) KV positions not reserved
    private final int[] promptForeign;    // (prompt machines) whole requests lent to the mixed pool, in flight
    private final long[] tokenKvFree;     // (token machines) KV positions not reserved
    private final int[] tokenForeign;     // (token machines) prompts run while lent to the mixed pool, in flight
    private final boolean[] promptLost;   // (prompt machines) gone: never chosen again
    private final boolean[] tokenLost;    // (token machines) gone: never chosen again
    private final long[] promptKvCapacity;
    private final long[] tokenKvCapacity;
    private final long largestKv;         // asked of every arriving request: a scan of the machines cost more than routing
    private final long promptKvSmallest;
    private final long tokenKvSmallest;
    private final MachineRanking promptRanking; // fewest pending, then most free KV, then lowest index
    private final MachineRanking tokenRanking;  // most free KV, then lowest index

    /**
     * @param promptKvTokens       KV positions of each prompt machine
     * @param tokenKvTokens        KV positions of each token machine
     * @param mixedThresholdTokens pending prompt tokens above which prompt machines count as backed up
     */
    public SplitwisePolicy(long[] promptKvTokens, long[] tokenKvTokens, long mixedThresholdTokens) {
        this.mixedThresholdTokens = mixedThresholdTokens;
        this.promptPending = new long[promptKvTokens.length];
        this.promptKvFree = promptKvTokens.clone();
        this.promptForeign = new int[promptKvTokens.length];
        this.tokenKvFree = tokenKvTokens.clone();
        this.tokenForeign = new int[tokenKvTokens.length];
        this.promptLost = new boolean[promptKvTokens.length];
        this.tokenLost = new boolean[tokenKvTokens.length];
        this.promptKvCapacity = promptKvTokens.clone();
        this.tokenKvCapacity = tokenKvTokens.clone();
        this.largestKv = Math.max(Arrays.stream(promptKvTokens).max().orElse(0), Arrays.stream(tokenKvTokens).max().orElse(0));
        this.promptKvSmallest = Arrays.stream(promptKvTokens).min().orElse(0);
        this.tokenKvSmallest = Arrays.stream(tokenKvTokens).min().orElse(0);
        this.promptRanking = new MachineRanking(promptKvTokens.length, (a, b) -> promptPending[a] != promptPending[b]
                ? promptPending[a] < promptPending[b] : promptKvFree[a] != promptKvFree[b]
                ? promptKvFree[a] > promptKvFree[b] : a < b, promptKvFree, promptLost);
        this.tokenRanking = new MachineRanking(tokenKvTokens.length, (a, b) -> tokenKvFree[a] != tokenKvFree[b]
                ? tokenKvFree[a] > tokenKvFree[b] : a < b, tokenKvFree, tokenLost);
    }

    /** The most KV positions any machine has: a prompt that needs more can never run. */
    public long largestKv() {
        return largestKv;
    }

    /** The route for a request, with its resources taken; null when nothing has room now. */
    public Route route(int promptTokens, int totalTokens) {
        int token = mostFreeKv(promptTokens, totalTokens);
        if (token >= 0) {
            int onToken = (int) need(promptTokens, totalTokens, tokenKvCapacity[token]);
            int prompt = fewestPending(promptTokens, promptTokens);
            if (prompt >= 0 && promptPending[prompt] <= mixedThresholdTokens) {
                promptPending[prompt] += promptTokens;
                promptKvFree[prompt] -= promptTokens;
                tokenKvFree[token] -= onToken;
                promptRanking.changed(prompt);
                tokenRanking.changed(token);
                return new Route(Route.Kind.SPLIT, prompt, token, promptTokens, onToken);
            }
            tokenKvFree[token] -= onToken;
            tokenForeign[token]++;
            tokenRanking.changed(token);
            return new Route(Route.Kind.ON_TOKEN, -1, token, promptTokens, onToken);
        }
        int prompt = fewestPending(promptTokens, totalTokens);
        if (prompt >= 0 && promptPending[prompt] <= mixedThresholdTokens) {
            int onPrompt = (int) need(promptTokens, totalTokens, promptKvCapacity[prompt]);
            promptPending[prompt] += promptTokens;
            promptKvFree[prompt] -= onPrompt;
            promptForeign[prompt]++;
            promptRanking.changed(prompt);
            return new Route(Route.Kind.ON_PROMPT, prompt, -1, promptTokens, onPrompt);
        }
        return null;
    }

    /** The route's prefill is done (its first token came): the prompt machine's queue shrinks. */
    public void prefillDone(Route r) {
        if (r.promptMachine() >= 0) {
            promptPending[r.promptMachine()] -= r.promptTokens();
            if (r.kind() == Route.Kind.SPLIT) {
                promptKvFree[r.promptMachine()] += r.promptTokens(); // its KV moved to the token machine
            }
            promptRanking.changed(r.promptMachine());
        }
    }

    /** The request ended (any way, after or without {@link #prefillDone}): its KV is free again. */
    public void finished(Route r, boolean prefillWasDone) {
        if (!prefillWasDone) {
            prefillDone(r);
        }
        switch (r.kind()) {
            case SPLIT -> tokenKvFree[r.tokenMachine()] += r.totalTokens();
            case ON_TOKEN -> {
                tokenKvFree[r.tokenMachine()] += r.totalTokens();
                tokenForeign[r.tokenMachine()]--;
            }
            case ON_PROMPT -> {
                promptKvFree[r.promptMachine()] += r.totalTokens();
                promptForeign[r.promptMachine()]--;
            }
        }
        if (r.kind() == Route.Kind.ON_PROMPT) {
            promptRanking.changed(r.promptMachine());
        } else {
            tokenRanking.changed(r.tokenMachine());
        }
    }

    /** A prompt machine that died: never chosen again. False if it was already lost. */
    public boolean promptMachineLost(int machine) {
        boolean wasAlive = !promptLost[machine];
        promptLost[machine] = true;
        promptRanking.changed(machine);
        return wasAlive;
    }

    /** A token machine that died: never chosen again. False if it was already lost. */
    public boolean tokenMachineLost(int machine) {
        boolean wasAlive = !tokenLost[machine];
        tokenLost[machine] = true;
        tokenRanking.changed(machine);
        return wasAlive;
    }

    /**
     * A token machine back after it was lost (a restarted process): chosen again, its whole KV
     * free (every request it held ended or moved when it was lost).
     */
    public void tokenMachineRejoined(int machine) {
        tokenLost[machine] = false;
        tokenKvFree[machine] = tokenKvCapacity[machine];
        tokenForeign[machine] = 0;
        tokenRanking.changed(machine);
    }

    public boolean promptMachineAlive(int machine) {
        return !promptLost[machine];
    }

    public boolean tokenMachineAlive(int machine) {
        return !tokenLost[machine];
    }

    /** Whether any machine, prompt or token, is left. */
    public boolean anyMachineAlive() {
        for (boolean lost : promptLost) {
            if (!lost) {
                return true;
            }
        }
        for (boolean lost : tokenLost) {
            if (!lost) {
                return true;
            }
        }
        return false;
    }

    public Pool promptMachinePool(int machine) {
        return promptForeign[machine] > 0 ? Pool.MIXED : Pool.PROMPT;
    }

    public Pool tokenMachinePool(int machine) {
        return tokenForeign[machine] > 0 ? Pool.MIXED : Pool.TOKEN;
    }

    public long pendingPromptTokens(int promptMachine) {
        return promptPending[promptMachine];
    }

    public long freeKvTokens(int tokenMachine) {
        return tokenKvFree[tokenMachine];
    }

    /** Machines now in {@code pool}, prompt and token machines together. */
    /** Live prompt machines, of how many. */
    public int[] promptMachinesAlive() {
        return alive(promptLost);
    }

    /** Live token machines, of how many. */
    public int[] tokenMachinesAlive() {
        return alive(tokenLost);
    }

    private static int[] alive(boolean[] lost) {
        int n = 0;
        for (boolean l : lost) {
            n += l ? 0 : 1;
        }
        return new int[] {n, lost.length};
    }

    public int machinesIn(Pool pool) {
        int n = 0;
        for (int i = 0; i < promptPending.length; i++) {
            n += promptMachinePool(i) == pool ? 1 : 0;
        }
        for (int i = 0; i < tokenKvFree.length; i++) {
            n += tokenMachinePool(i) == pool ? 1 : 0;
        }
        return n;
    }

    /**
     * What a request of {@code total} positions books on a machine of {@code capacity}: all of
     * them, or the whole cache where it is longer, but never less than its prompt and first token.
     */
    private static long need(int prompt, int total, long capacity) {
        return Math.max(Math.min(total, prompt + 1L), Math.min(total, capacity));
    }

    /**
     * The live prompt machine with the fewest pending prompt tokens that has room for {@link #need}, of
     * those the one with the most free KV (so that whole requests lent to the mixed pool spread out); −1 if none.
     */
    private int fewestPending(int prompt, int total) {
        return promptRanking.best(need(prompt, total, promptKvSmallest),
                i -> promptKvFree[i] >= need(prompt, total, promptKvCapacity[i]));
    }

    /**
     * Of the live token machines with room for {@link #need} (for more than a machine's whole cache,
     * all of it free), the one with the most free KV; −1 if none.
     */
    private int mostFreeKv(int prompt, int total) {
        return tokenRanking.best(need(prompt, total, tokenKvSmallest),
                i -> tokenKvFree[i] >= need(prompt, total, tokenKvCapacity[i]));
    }

    @Override
    public String toString() {
        return "pending " + Arrays.toString(promptPending) + ", token KV free " + Arrays.toString(tokenKvFree);
    }
}
