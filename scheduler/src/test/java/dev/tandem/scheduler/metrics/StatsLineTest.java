package dev.tandem.scheduler.metrics;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StatsLineTest {
    @Test
    void shouldReportWhatRunsAndWaitsAndTheRatesSinceTheLastLine() {
        ApiMetrics metrics = new ApiMetrics();
        long t0 = 1_000_000_000L;
        metrics.started(40); // before the first line: not in its rate
        StatsLine line = new StatsLine(metrics, t0);
        metrics.started(60);
        for (int i = 0; i < 30; i++) {
            metrics.token(i == 0, 1_000_000, t0 + i);
        }
        assertEquals("running 2, waiting 3; prompt 30.0 tokens/s, generation 15.0 tokens/s over the last 2.0 s",
                line.next(Map.of("prompt", 1, "token", 2), t0 + 2_000_000_000L));
        metrics.finished("length", 5_000_000, 200_000, 1_000_000);
        assertEquals("running 1, waiting 0; prompt 0.0 tokens/s, generation 0.0 tokens/s over the last 0.5 s;"
                + " KV cache 37.5 % used", line.next(Map.of(), 0.375, t0 + 2_500_000_000L));
    }
}
