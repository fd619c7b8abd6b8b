package dev.tandem.bench.serve;

/**
 * What one streamed completion measured. Times are ms; the send time is relative to the replay's start.
 *
 * @param sentAtMs      when it was actually sent, ms after the replay started
 * @param status        HTTP status, 0 when none arrived
 * @param error         null on success, else one of {@link #ERROR_429}, {@link #ERROR_503}, {@code http_<status>},
 *                      {@link #ERROR_TRANSPORT}, {@link #ERROR_STREAM}, {@link #ERROR_TIMEOUT}
 * @param ttftMs        send → first chunk carrying a token; NaN if none
 * @param tbtMs         gaps between consecutive tokens, ms; a chunk of k tokens after a gap g gives k gaps of g/k
 * @param e2eMs         send → {@code data: [DONE]}; NaN on failure
 * @param outputTokens  tokens received
 */
public record RequestOutcome(PlannedRequest request, double sentAtMs, int status, String error, String errorMessage,
                             double ttftMs, double[] tbtMs, double e2eMs, int outputTokens) {
    public static final String ERROR_429 = "http_429";
    public static final String ERROR_503 = "http_503";
    public static final String ERROR_TRANSPORT = "transport";
    public static final String ERROR_STREAM = "malformed_stream";
    public static final String ERROR_TIMEOUT = "timeout";

    public boolean ok() {
        return error == null;
    }

    public static RequestOutcome failed(PlannedRequest request, double sentAtMs, int status, String error, String message) {
        return new RequestOutcome(request, sentAtMs, status, error, message, Double.NaN, new double[0], Double.NaN, 0);
    }

    /** Per-request mean of {@link #tbtMs}, NaN without gaps. */
    public double meanTbtMs() {
        double sum = 0;
        for (double gap : tbtMs) {
            sum += gap;
        }
        return tbtMs.length == 0 ? Double.NaN : sum / tbtMs.length;
    }
}
