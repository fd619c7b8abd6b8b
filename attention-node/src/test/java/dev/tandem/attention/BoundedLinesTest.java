package dev.tandem.attention;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Lines as BufferedReader gives them (\n, \r\n, a last line without one), and a line without end cut off. */
class BoundedLinesTest {
    @Test
    void shouldSplitLinesAcrossBufferRefillsAndStripCarriageReturns() throws IOException {
        String longLine = "x".repeat(20_000); // over two 8 KiB buffers
        BoundedLines lines = new BoundedLines(new StringReader("a\r\n\n" + longLine + "\nlast"), 1 << 20);
        assertEquals("a", lines.next());
        assertEquals("", lines.next());
        assertEquals(longLine, lines.next());
        assertEquals("last", lines.next());
        assertNull(lines.next());
    }

    @Test
    void shouldCutOffALineWithoutEndAfterTheBoundHavingReadLittleMore() {
        int[] served = new int[1];
        Reader endless = new Reader() { // a peer sending 'a' forever, never a newline
            @Override
            public int read(char[] buf, int off, int len) {
                java.util.Arrays.fill(buf, off, off + len, 'a');
                served[0] += len;
                return len;
            }

            @Override
            public void close() {
            }
        };
        BoundedLines lines = new BoundedLines(endless, 100_000);
        IOException e = assertThrows(IOException.class, lines::next);
        assertTrue(e.getMessage().contains("longer than 100000"), e.getMessage());
        assertTrue(served[0] <= 100_000 + 8192, "read " + served[0] + " characters before giving up");
    }
}
