package dev.tandem.attention;

import java.io.IOException;
import java.io.Reader;

/**
 * Request lines read with a length bound: a peer that sends a line without end (a 400 MB one grew a
 * node by 830 MB) is cut off once it passes {@code maxChars}, with nothing more buffered.
 */
final class BoundedLines {
    /** Far above any request line (a 128k-token prompt as ids is about 1 MB), far below what hurts a node. */
    static final int MAX_LINE_CHARS = 16 << 20;

    private final Reader in;
    private final int maxChars;
    private final char[] buffer = new char[8192];
    private int start;
    private int end;

    BoundedLines(Reader in, int maxChars) {
        this.in = in;
        this.maxChars = maxChars;
    }

    /** The next line without its terminator ({@code \n} or {@code \r\n}); null at the end of input. */
    String next() throws IOException {
        StringBuilder line = null;
        while (true) {
            if (start == end) {
                int n = in.read(buffer, 0, buffer.length);
                if (n < 0) {
                    return line == null ? null : line.toString();
                }
                start = 0;
                end = n;
            }
            int newline = start;
            while (newline < end && buffer[newline] != '\n') {
                newline++;
            }
            int length = newline - start;
            if ((line == null ? 0 : line.length()) + length > maxChars) {
                throw new IOException("a request line longer than " + maxChars + " characters; closing the input");
            }
            if (line == null) {
                line = new StringBuilder(Math.min(maxChars, Math.max(16, length)));
            }
            line.append(buffer, start, length);
            if (newline < end) {
                start = newline + 1;
                int last = line.length() - 1;
                if (last >= 0 && line.charAt(last) == '\r') {
                    line.setLength(last);
                }
                return line.toString();
            }
            start = end;
        }
    }
}
