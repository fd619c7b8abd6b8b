package dev.tandem.bench.m2n;

/**
 * One row of the M2N benchmark.
 *
 * @param transport     label of the {@link Transport}.
 * @param m             senders (attention nodes).
 * @param n             receivers (expert nodes).
 * @param bytes         activation bytes each sender sends each receiver per round trip, and gets back.
 * @param throughputMbS activation bytes moved per second, both directions, all pairs. // 10^6 B/s
 * @param p50Us         round trip: a sender's dispatch to all N receivers until all results are back. // µs
 * @param p99Us         // µs
 * @param p999Us        // µs
 * @param roundTrips    measured round trips (per sender).
 */
public record M2nResult(
        String transport, int m, int n, long bytes, double throughputMbS, double p50Us, double p99Us, double p999Us,
        long roundTrips) {
}
