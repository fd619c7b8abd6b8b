package dev.tandem.core.sampling;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplingParamsTest {
    @ParameterizedTest
    @ValueSource(floats = {-1f, -1e-6f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY})
    void shouldRejectTemperatureThatIsNegativeOrNotFinite(float temperature) {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(temperature, 1f, 0L));
    }

    @ParameterizedTest
    @ValueSource(floats = {0f, -0.5f, 1.0001f, 2f, Float.NaN, Float.POSITIVE_INFINITY})
    void shouldRejectTopPOutsideZeroExclusiveToOneInclusive(float topP) {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, topP, 0L));
    }

    @Test
    void shouldAcceptTheEdgesOfTheValidRanges() {
        assertDoesNotThrow(() -> new SamplingParams(0f, 1f, 0L));
        assertDoesNotThrow(() -> new SamplingParams(1e-6f, Float.MIN_VALUE, -1L));
        assertDoesNotThrow(() -> new SamplingParams(100f, 0.5f, Long.MAX_VALUE));
    }

    @Test
    void shouldBeGreedyOnlyAtTemperatureZero() {
        assertTrue(SamplingParams.GREEDY.greedy());
        assertTrue(new SamplingParams(0f, 0.5f, 3L).greedy());
        assertFalse(new SamplingParams(1e-6f, 1f, 3L).greedy());
    }
}
