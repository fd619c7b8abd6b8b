package dev.tandem.scheduler.http;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Stop strings over the test codec, whose id i is the text "t{i},". */
class CompletionTextTest {
    @Test
    void shouldHoldBackAPossibleStopStringAndCutAtTheMatch() {
        CompletionText text = new CompletionText(new WordCodec().newDetokenizer(), List.of("t2,t3"));
        assertEquals("t1,", text.append(1));
        assertEquals("", text.append(2), "t2, may begin the stop string");
        assertEquals("", text.append(3), "the match ends the text before t2,");
        assertTrue(text.stopped());
        assertEquals("", text.append(4));
        assertEquals("", text.finish());
        assertEquals("t1,", text.released());
    }

    @Test
    void shouldReleaseHeldTextOnceItCannotMatchOrAtTheEnd() {
        CompletionText text = new CompletionText(new WordCodec().newDetokenizer(), List.of("t2,t3", "t9,"));
        assertEquals("", text.append(2));
        assertEquals("t2,t4,", text.append(4));
        assertEquals("", text.append(2));
        assertEquals("t2,", text.finish());
        assertFalse(text.stopped());
        assertEquals("t2,t4,t2,", text.released());
    }

    @Test
    void shouldCutAStopStringInsideOneTokenAndKeepTheTextBeforeIt() {
        CompletionText text = new CompletionText(new WordCodec().newDetokenizer(), List.of("7,"));
        assertEquals("t5,", text.append(5));
        assertEquals("t1", text.append(17));
        assertTrue(text.stopped());
        assertEquals("t5,t1", text.released());
    }

    @Test
    void shouldKeepTheTextEmptyWithoutATokenizer() {
        CompletionText text = new CompletionText(null, List.of());
        assertEquals("", text.append(5));
        assertEquals("", text.finish());
        assertEquals("", text.released());
    }
}
