package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;

/**
 * Moves checkpoint bytes from the memory-mapped files to the device through two page-locked
 * staging buffers: while the device copies one, the host fills the other. Reports progress
 * (bytes and GB/s) every few seconds and a total at the end.
 */
final class WeightUploader {
    private static final long CHUNK = 32L << 20;
    private static final long REPORT_NANOS = 3_000_000_000L;

    private final CudaDriver driver;
    private final MemorySegment stream;
    private final Consumer<String> log;
    private final MemorySegment[] staging = new MemorySegment[2];
    private final MemorySegment[] copied = new MemorySegment[2]; // event: the device has read staging[i]
    private final boolean[] pending = new boolean[2];
    private int next;
    private long bytes;
    private long started;
    private long lastReport;

    WeightUploader(CudaDriver driver, MemorySegment stream, Consumer<String> log) {
        this.driver = driver;
        this.stream = stream;
        this.log = log;
        for (int i = 0; i < 2; i++) {
            staging[i] = driver.hostAlloc(CHUNK);
            copied[i] = driver.createEvent();
        }
    }

    static long chunkBytes() {
        return CHUNK;
    }

    /** Copies {@code length} bytes of {@code src} from {@code offset} to device address {@code dst}. */
    void copy(MemorySegment src, long offset, long length, long dst) {
        if (started == 0) {
            started = System.nanoTime();
            lastReport = started;
        }
        for (long done = 0; done < length; ) {
            long n = Math.min(CHUNK, length - done);
            int b = next;
            next ^= 1;
            if (pending[b]) {
                driver.synchronizeEvent(copied[b]);
            }
            MemorySegment.copy(src, offset + done, staging[b], 0, n);
            driver.copyToDevice(dst + done, staging[b], n, stream);
            driver.record(copied[b], stream);
            pending[b] = true;
            done += n;
        }
        bytes += length;
        long now = System.nanoTime();
        if (now - lastReport > REPORT_NANOS) {
            lastReport = now;
            log.accept(String.format("weights: %.1f GB uploaded (%.1f GB/s)", bytes / 1e9, bytes / ((now - started) / 1e9) / 1e9));
        }
    }

    /** The total so far, once the stream has drained; null if nothing was uploaded. */
    String summary() {
        if (bytes == 0) {
            return null;
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        return String.format("%.2f GB of weights uploaded in %.1f s (%.1f GB/s)", bytes / 1e9, seconds, bytes / seconds / 1e9);
    }

    void close() {
        for (int i = 0; i < 2; i++) {
            driver.freeHost(staging[i]);
            driver.destroyEvent(copied[i]);
        }
    }
}
