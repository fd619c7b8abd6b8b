package dev.tandem.sim;

/**
 * The cluster's power draw now, W, kept as sums over its machines as they start and end steps:
 * as they run, and were every machine uncapped, or the token machines capped. What POLCA's
 * policy decides from.
 */
final class ClusterDraw {
    private double uncapped;
    private double promptUncapped;
    private double tokenCapped;

    ClusterDraw(SimulatedMachine[] promptMachines, SimulatedMachine[] tokenMachines) {
        for (SimulatedMachine m : promptMachines) {
            uncapped += m.drawUncappedW;
            promptUncapped += m.drawUncappedW;
        }
        for (SimulatedMachine m : tokenMachines) {
            uncapped += m.drawUncappedW;
            tokenCapped += m.drawCappedW;
        }
    }

    /** {@code m} now draws {@code actual}; uncapped it would draw {@code asUncapped}, capped {@code asCapped}. */
    void set(SimulatedMachine m, double actual, double asUncapped, double asCapped) {
        uncapped += asUncapped - m.drawUncappedW;
        if (m.token) {
            tokenCapped += asCapped - m.drawCappedW;
        } else {
            promptUncapped += asUncapped - m.drawUncappedW;
        }
        m.drawW = actual;
        m.drawUncappedW = asUncapped;
        m.drawCappedW = asCapped;
    }

    /** Every machine uncapped. */
    double uncapped() {
        return uncapped;
    }

    /** The prompt machines uncapped. */
    double promptUncapped() {
        return promptUncapped;
    }

    /** The token machines capped. */
    double tokenCapped() {
        return tokenCapped;
    }
}
