package dev.tandem.core.engine;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Log-softmax and the top tokens of a row of logits, against values worked out by hand. */
class TokenLogprobsTest {
    @Test
    void shouldTakeTheLogSoftmaxAndTheMostLikelyTokensInOrder() {
        // logits ln 1, ln 2, ln 3, ln 4 (at offset 1): probabilities 0.1, 0.2, 0.3, 0.4
        float[] row = {99f, 0f, (float) Math.log(2), (float) Math.log(3), (float) Math.log(4), -99f};
        TokenLogprobs lp = TokenLogprobs.of(row, 1, 4, 1, 3);
        assertEquals(Math.log(0.2), lp.logprob(), 1e-6);
        assertArrayEquals(new int[] {3, 2, 1}, lp.topIds());
        assertEquals(Math.log(0.4), lp.topLogprobs()[0], 1e-6);
        assertEquals(Math.log(0.3), lp.topLogprobs()[1], 1e-6);
        assertEquals(Math.log(0.2), lp.topLogprobs()[2], 1e-6);
        assertEquals(0, TokenLogprobs.of(row, 1, 4, 0, 0).topIds().length);
    }

    @Test
    void shouldKeepTheLowerIdFirstOnATie() {
        float[] row = {1f, 2f, 2f, 0f, 2f};
        assertArrayEquals(new int[] {1, 2}, TokenLogprobs.of(row, 0, 5, 4, 2).topIds());
        assertArrayEquals(new int[] {1, 2, 4, 0, 3}, TokenLogprobs.of(row, 0, 5, 4, 9).topIds());
    }
}
