package dev.tandem.bench;

/**
 * What one engine did at one batch size. Prefill is every prompt token, up to and including the
 * sampling of each sequence's first generated token; decode is every later token, one per
 * sequence per step.
 *
 * @param prefillSeconds wall time of the prefill steps
 * @param decodeSeconds  wall time of the decode steps
 * @param foreignLoad    share of the machine's CPU time that other processes took meanwhile
 */
public record Throughput(String engine, int batch, long prefillTokens, double prefillSeconds, long decodeTokens,
                         double decodeSeconds, double foreignLoad) {
    public double prefillTokensPerSecond() {
        return prefillSeconds == 0 ? 0 : prefillTokens / prefillSeconds;
    }

    public double decodeTokensPerSecond() {
        return decodeSeconds == 0 ? 0 : decodeTokens / decodeSeconds;
    }

    Throughput withForeignLoad(double load) {
        return new Throughput(engine, batch, prefillTokens, prefillSeconds, decodeTokens, decodeSeconds, load);
    }
}
