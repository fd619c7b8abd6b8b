package dev.tandem.sim;

import java.util.Arrays;

/** Energy above idle in bins of {@link ClusterSimulation#POWER_BIN_MS}, J: what turns into a pool's power over time. */
final class PowerBins {
    private double[] joules = new double[16];

    /** {@code watts} over [from, to) ms. */
    void add(double fromMs, double toMs, double watts) {
        for (double t = fromMs; t < toMs && watts != 0; ) {
            int bin = (int) (t / ClusterSimulation.POWER_BIN_MS);
            double end = Math.min(toMs, (bin + 1) * ClusterSimulation.POWER_BIN_MS);
            if (bin >= joules.length) {
                joules = Arrays.copyOf(joules, Math.max(bin + 1, 2 * joules.length));
            }
            joules[bin] += watts * (end - t) / 1e3;
            t = end;
        }
    }

    /** Everything added, J. */
    double joulesAboveIdle() {
        double sum = 0;
        for (double j : joules) {
            sum += j;
        }
        return sum;
    }

    /** The mean draw of each bin up to {@code wallMs}, W, {@code idleWatts} under it all. */
    double[] watts(double wallMs, double idleWatts) {
        int bins = (int) Math.ceil(wallMs / ClusterSimulation.POWER_BIN_MS);
        double[] w = new double[bins];
        for (int b = 0; b < bins; b++) {
            double width = Math.min(ClusterSimulation.POWER_BIN_MS, wallMs - b * ClusterSimulation.POWER_BIN_MS) / 1e3;
            w[b] = idleWatts + (b < joules.length && width > 0 ? joules[b] / width : 0);
        }
        return w;
    }
}
