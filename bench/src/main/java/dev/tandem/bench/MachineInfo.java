package dev.tandem.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The machine a benchmark ran on, as its tables state it, and how busy other processes kept it
 * just before: on a shared machine a busy neighbour halves every number.
 *
 * @param cpuModel   /proc/cpuinfo's model name (what lscpu prints)
 * @param cores      processors available to the JVM
 * @param java       the JVM's vendor and version
 * @param busyBefore share of all CPU time that other processes took during a short sample taken
 *                   before the benchmark started; NaN if unreadable
 */
public record MachineInfo(String cpuModel, int cores, String java, double busyBefore) {
    /** Above this, the run is probably sharing the cores with someone else's work. */
    public static final double BUSY_WARNING = 0.10;

    /** Describes this machine, sampling its load for {@code sampleMillis} first. */
    public static MachineInfo probe(long sampleMillis) {
        return new MachineInfo(readCpuModel(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.vendor") + " " + System.getProperty("java.runtime.version"),
                foreignLoad(sampleMillis));
    }

    public String describe() {
        return cpuModel + ", " + cores + " cores, Java " + java;
    }

    /** A warning for stderr if other work was running, else null. */
    public String busyWarning() {
        if (!(busyBefore > BUSY_WARNING)) {
            return null;
        }
        return String.format("warning: other processes kept the CPUs %.0f%% busy just before the benchmark started;"
                + " if they go on, the numbers will be low", 100 * busyBefore);
    }

    private static String readCpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }

    private static double foreignLoad(long sampleMillis) {
        ForeignLoad load = ForeignLoad.start();
        try {
            Thread.sleep(sampleMillis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Double.NaN;
        }
        return load.fraction();
    }
}
