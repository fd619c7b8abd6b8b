package dev.tandem.sim;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * MegaScale-Infer's deployment plan (its Algorithm 1) for the decode of an AFD cluster on one kind of
 * GPU: every split of {@code gpus} into {@code na} attention nodes and {@code ne} expert nodes (each
 * holding {@code E/ne} experts) and every micro-batch count {@code m ≤ 4}, with the largest global batch
 * whose time between tokens meets the SLO (binary search) and fits in memory; ranked by decode tokens/s
 * per GPU. A step's time follows the ping-pong (../shared/DESIGN.md): each layer takes
 * {@code max(m·Tf, Ta + Te + 2·Tc)}, where {@code Tf = max(Ta, Te)}, for micro-batches of
 * {@code ba = B/(na·m)} tokens on an attention node and {@code be = ba·na·K/ne} routed tokens on an expert
 * node. Tensor parallelism within a node is not modelled: every node is one GPU.
 */
public final class AfdPlanner {
    public static final int MAX_MICRO_BATCHES = dev.tandem.scheduling.MicroBatchRule.MAX;

    /** One plan: its shape, the batch it runs, and what that gives. */
    public record Design(int attentionNodes, int expertNodes, int microBatches, int batch, double taUs, double teUs,
                         double tcUs, double tbtMs, double tokensPerSecond) {
        public int gpus() {
            return attentionNodes + expertNodes;
        }

        public double tokensPerSecondPerGpu() {
            return tokensPerSecond / gpus();
        }

    }

    private AfdPlanner() {
    }

    /** The time between tokens of {@code batch} sequences on the shape, ms, and its parts (µs) in {@code parts}. */
    static double tbtMs(AfdProfile p, int na, int ne, int m, int batch, double[] parts) {
        double ba = (double) batch / (na * m);
        double be = ba * na * p.topK() / ne;
        double ta = p.ta(ba);
        double te = p.te(be);
        double tc = p.tc(ba);
        if (parts != null) {
            parts[0] = ta;
            parts[1] = te;
            parts[2] = tc;
        }
        return p.layers() * Math.max(m * Math.max(ta, te), ta + te + 2 * tc) / 1e3;
    }

    /** The most sequences of {@code context} tokens the attention nodes' KV caches hold; -1 if a node's weights do not fit. */
    static long memoryBatch(AfdProfile p, int na, int ne, int context) {
        double expertGb = p.expertWeightsGb() * Math.ceil((double) p.experts() / ne);
        double kvGb = p.gpuMemoryGb() - p.attentionWeightsGb();
        if (expertGb > p.gpuMemoryGb() || kvGb <= 0) {
            return -1;
        }
        return (long) (na * kvGb * 1e9 / ((double) p.kvBytesPerToken() * context));
    }

    /** Every shape of {@code gpus} GPUs, each at its largest batch meeting {@code tbtSloMs}; best per GPU first. */
    public static List<Design> plan(AfdProfile p, int gpus, double tbtSloMs, int context) {
        List<Design> designs = new ArrayList<>();
        for (int ne = 1; ne < gpus; ne++) {
            if (ne > p.experts()) {
                break;
            }
            int na = gpus - ne;
            long memory = memoryBatch(p, na, ne, context);
            if (memory < na) {
                continue; // the experts do not fit, or not one sequence a node
            }
            for (int m = 1; m <= MAX_MICRO_BATCHES; m++) {
                Design d = largestBatch(p, na, ne, m, (int) Math.min(Integer.MAX_VALUE / 2, memory), tbtSloMs);
                if (d != null) {
                    designs.add(d);
                }
            }
        }
        designs.sort(Comparator.comparingDouble(Design::tokensPerSecondPerGpu).reversed());
        return designs;
    }

    /** The largest batch up to {@code maxBatch} (at least one sequence a micro-batch) meeting the SLO; null if none. */
    static Design largestBatch(AfdProfile p, int na, int ne, int m, int maxBatch, double tbtSloMs) {
        double slo = tbtSloMs * (1 + 1e-12); // a batch exactly at the SLO meets it, rounding aside
        int lo = na * m; // one sequence in every micro-batch of every attention node
        if (lo > maxBatch || tbtMs(p, na, ne, m, lo, null) > slo) {
            return null;
        }
        int hi = maxBatch;
        while (lo < hi) { // the time grows with the batch: the last that meets it
            int mid = lo + (hi - lo + 1) / 2;
            if (tbtMs(p, na, ne, m, mid, null) <= slo) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        double[] parts = new double[3];
        double tbt = tbtMs(p, na, ne, m, lo, parts);
        return new Design(na, ne, m, lo, parts[0], parts[1], parts[2], tbt, lo * 1e3 / tbt);
    }

    /**
     * The colocated baseline on the same GPUs: each one a whole model ({@code machine}'s decode step) at
     * its largest batch meeting the SLO whose KV fits beside the weights; tokens/s per GPU, 0 if none.
     */
    public static double colocatedPerGpu(MachineProfile machine, AfdProfile p, double tbtSloMs, int context) {
        double weightsGb = p.attentionWeightsGb() + p.experts() * p.expertWeightsGb();
        long memory = (long) ((p.gpuMemoryGb() - weightsGb) * 1e9 / ((double) p.kvBytesPerToken() * context));
        int best = 0;
        for (int b = 1; b <= memory; b++) {
            if (machine.decodeStepMs(b, (long) b * context) > tbtSloMs) {
                break;
            }
            best = b;
        }
        return best == 0 ? 0 : best * 1e3 / machine.decodeStepMs(best, (long) best * context);
    }

    public static String markdown(List<Design> designs, double colocatedPerGpu, int rows) {
        StringBuilder sb = new StringBuilder("| rank | attention | expert | m | batch | Ta µs | Te µs | Tc µs | TBT ms |"
                + " tokens/s | per GPU | against colocated |\n");
        sb.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < Math.min(rows, designs.size()); i++) {
            Design d = designs.get(i);
            sb.append(String.format(Locale.ROOT, "| %d | %d | %d | %d | %d | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %s |%n",
                    i + 1, d.attentionNodes(), d.expertNodes(), d.microBatches(), d.batch(), d.taUs(), d.teUs(),
                    d.tcUs(), d.tbtMs(), d.tokensPerSecond(), d.tokensPerSecondPerGpu(),
                    colocatedPerGpu > 0 ? String.format(Locale.ROOT, "%.2f×", d.tokensPerSecondPerGpu() / colocatedPerGpu)
                            : "-"));
        }
        return sb.toString();
    }
}
