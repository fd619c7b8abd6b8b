package dev.tandem.bench.serve;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One Splitwise SLO: the {@code percentile} of a metric's slowdowns (measured / unloaded) must not exceed
 * {@code limit}.
 *
 * @param metric     TTFT, TBT or E2E
 * @param percentile in (0, 1]
 * @param slowdown   the measured percentile of the slowdowns; +∞ when failed requests reach it
 */
public record SloCheck(String metric, double percentile, double slowdown, double limit) {
    @JsonProperty("pass")
    public boolean pass() {
        return slowdown <= limit;
    }
}
