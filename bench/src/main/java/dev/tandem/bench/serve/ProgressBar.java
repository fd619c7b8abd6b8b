package dev.tandem.bench.serve;

import java.io.PrintStream;
import java.util.Locale;

/** {@code [#####-----] 45/100 sent, 40 done, 2 errors} on one line of stderr, redrawn with \r at most 4 times/s. */
public final class ProgressBar {
    private static final long MIN_INTERVAL_NANOS = 250_000_000L;
    private static final int WIDTH = 30;

    private final PrintStream out;
    private final String label;
    private long lastDraw = Long.MIN_VALUE;
    private int lastLength;
    private String lastLine = "";

    /** @param out null draws nothing */
    public ProgressBar(PrintStream out, String label) {
        this.out = out;
        this.label = label;
    }

    public synchronized void update(int sent, int total, int done, int errors, boolean force) {
        long now = System.nanoTime();
        if (out == null || (!force && lastDraw != Long.MIN_VALUE && now - lastDraw < MIN_INTERVAL_NANOS)) {
            return;
        }
        int filled = total == 0 ? WIDTH : (int) ((long) done * WIDTH / total);
        String line = String.format(Locale.ROOT, "%s [%s%s] %d/%d sent, %d done, %d errors", label,
                "#".repeat(filled), "-".repeat(WIDTH - filled), sent, total, done, errors);
        if (line.equals(lastLine) && !force) {
            return;
        }
        lastDraw = now;
        lastLine = line;
        out.print("\r" + line + " ".repeat(Math.max(0, lastLength - line.length())));
        out.flush();
        lastLength = line.length();
    }

    /** Ends the line so that later output starts on a fresh one. */
    public synchronized void finish() {
        if (out != null && lastLength > 0) {
            out.println();
            lastLength = 0;
        }
    }
}
