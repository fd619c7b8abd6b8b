package dev.tandem.scheduling;

import java.util.Set;

/**
 * The ping-pong's micro-batch count m, as a decision with no I/O: MegaScale-Infer's rule
 * {@code m ≥ 2(1 + Tc/Tf)}, {@code Tf = max(Ta, Te)}, at most {@link #MAX}. The live launcher
 * feeds it times from a warm-up on its host; a plan feeds it a profile's.
 */
public final class MicroBatchRule {
    /** The most micro-batches a step is cut into. */
    public static final int MAX = 4;

    private MicroBatchRule() {
    }

    /** m for per-layer attention, expert and one-way transfer times (any one unit). */
    public static int forTimes(double ta, double te, double tc) {
        double tf = Math.max(ta, te);
        if (!(tf > 0) || !(tc >= 0)) {
            throw new IllegalArgumentException("Ta, Te must be > 0 and Tc >= 0: " + ta + ", " + te + ", " + tc);
        }
        return (int) Math.min(MAX, Math.max(1, Math.ceil(2 * (1 + tc / tf))));
    }

    /**
     * m for nodes on {@code devices} (resolved: cpu, cuda:N) where the devices alone decide, else 0 (time
     * the CPU and ask {@link #forTimes}). Every node on one GPU: 1, since the roles take turns on the
     * device and a second micro-batch has nothing to overlap with (one H200: 111 ms between tokens at
     * m = 2 against 74 ms at m = 1, bench/GPU_RESULTS.md). Nodes on several GPUs: 2, the rule's least
     * (Tc ≥ 0), without a GPU timing to refine it.
     */
    public static int forDevices(Set<String> devices) {
        if (devices.stream().allMatch(d -> d.equals("cpu"))) {
            return 0;
        }
        return devices.size() == 1 ? 1 : 2;
    }
}
