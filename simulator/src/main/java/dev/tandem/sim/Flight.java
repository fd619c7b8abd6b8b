package dev.tandem.sim;

import dev.tandem.bench.serve.PlannedRequest;
import dev.tandem.scheduling.Route;

/** A request in a simulation, from its arrival to its last token. */
final class Flight {
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
}
