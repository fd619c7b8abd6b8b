package dev.tandem.scheduler.metrics;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TokenRateTest {
    private static final long S = 1_000_000_000L; // ns

    @Test
    void shouldAverageTheTenWholeSecondsBeforeNow() {
        TokenRate rate = new TokenRate();
        rate.add(50, 100 * S);
        rate.add(30, 105 * S + S / 2);
        assertEquals(0.0, rate.perSecond(100 * S + S / 2), "the current second does not count yet");
        assertEquals(8.0, rate.perSecond(106 * S));
        assertEquals(3.0, rate.perSecond(115 * S), "second 100 left the window");
        assertEquals(0.0, rate.perSecond(116 * S));
    }

    @Test
    void shouldResetABucketWhenItsSecondComesRoundAgain() {
        TokenRate rate = new TokenRate();
        rate.add(50, 100 * S);
        rate.add(7, 110 * S);  // the same bucket, ten seconds later
        assertEquals(0.7, rate.perSecond(111 * S), 1e-12);
    }
}
