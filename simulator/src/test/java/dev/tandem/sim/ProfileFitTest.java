package dev.tandem.sim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ProfileFitTest {
    @Test
    void shouldRecoverTheLinesBehindExactPoints() {
        // prefill 10 + 0.1 ms a token
        ProfileFit.Prefill prefill = ProfileFit.prefill(new double[] {100, 300, 700}, new double[] {20, 40, 80});
        assertEquals(10, prefill.interceptMs(), 1e-9);
        assertEquals(0.1, prefill.perTokenMs(), 1e-12);
        // a step of b sequences holding c tokens each: 5 + 1·b + 0.01·b·c ms; batches 1, 2, 4 at 10 tokens, 4 at 110
        ProfileFit.Decode decode = ProfileFit.decode(new double[] {1, 2, 4}, new double[] {6.1, 7.2, 9.4}, 10, 4, 110,
                13.4);
        assertEquals(5, decode.interceptMs(), 1e-9);
        assertEquals(1, decode.perSequenceMs(), 1e-9);
        assertEquals(0.01, decode.perContextTokenMs(), 1e-12);
        // noise that makes the context term negative leaves it out, rather than a step that shrinks with context
        assertEquals(0, ProfileFit.decode(new double[] {1, 2}, new double[] {6, 7}, 10, 2, 110, 6.5).perContextTokenMs());
    }
}
