package dev.tandem.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How much of the machine's CPU time other processes took while a benchmark ran: all non-idle
 * time in /proc/stat less this process's own (and its reaped children's, such as JMH's forks).
 * On a shared machine this says whether a number can be trusted. Linux only; NaN elsewhere.
 */
public final class ForeignLoad {
    private final long[] start;

    private ForeignLoad(long[] start) {
        this.start = start;
    }

    public static ForeignLoad start() {
        return new ForeignLoad(sample());
    }

    /** Other processes' share of all CPU time since {@link #start}, 0 to 1; NaN if unknown. */
    public double fraction() {
        long[] now = sample();
        if (start == null || now == null || now[0] == start[0]) {
            return Double.NaN;
        }
        long total = now[0] - start[0];
        long busy = total - (now[1] - start[1]);
        long own = now[2] - start[2];
        return Math.max(0, (double) (busy - own) / total);
    }

    /** {total, idle + iowait, own + children} in clock ticks, or null. */
    private static long[] sample() {
        try {
            String[] cpu = Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < cpu.length; i++) {
                total += Long.parseLong(cpu[i]);
            }
            String self = Files.readString(Path.of("/proc/self/stat"));
            // Fields after the parenthesised command name; utime is field 14 of the whole line.
            String[] f = self.substring(self.lastIndexOf(')') + 2).trim().split("\\s+");
            long own = Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]);
            return new long[] {total, Long.parseLong(cpu[4]) + Long.parseLong(cpu[5]), own};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
