package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The small per-call arrays (token ids, positions, slots, row indices, scales) on their way to
 * the device: bump-allocated in page-locked host memory, copied asynchronously on the stream to
 * the same offset of a device mirror. Stream order makes each copy land before the kernel that
 * reads it; the host reuses the space only after the stream has drained ({@link #reset}). The
 * copies go through {@link StreamOps}: a step captured as a graph uploads its whole area at once.
 */
final class HostArgs {
    private static final long ALIGN = 16;

    private final CudaDriver driver;
    private final StreamOps ops;
    private final Runnable drain;
    private final MemorySegment host;
    private final long device;
    private long used;

    /** {@code drain} synchronises the stream and calls {@link #reset}; it runs when the space is full. */
    HostArgs(CudaDriver driver, StreamOps ops, long bytes, Runnable drain) {
        this.driver = driver;
        this.ops = ops;
        this.drain = drain;
        this.host = driver.hostAlloc(bytes);
        this.device = driver.malloc(bytes);
    }

    long ints(int[] values, int count) {
        long at = claim(4L * count);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_INT, at, count);
        return send(at, 4L * count);
    }

    long longs(long[] values, int count) {
        long at = claim(8L * count);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_LONG, at, count);
        return send(at, 8L * count);
    }

    long floats(float[] values, int count) {
        long at = claim(4L * count);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_FLOAT, at, count);
        return send(at, 4L * count);
    }

    private long claim(long bytes) {
        if (bytes > host.byteSize()) {
            throw new IllegalArgumentException(bytes + " bytes of arguments exceed the " + host.byteSize() + "-byte staging area");
        }
        if (used + bytes > host.byteSize()) {
            drain.run();
        }
        long at = used;
        used = (used + bytes + ALIGN - 1) / ALIGN * ALIGN;
        return at;
    }

    private long send(long at, long bytes) {
        if (bytes > 0) {
            ops.upload(device + at, host.asSlice(at, bytes), bytes);
        }
        return device + at;
    }

    /** Bytes claimed since the last {@link #reset}. */
    long used() {
        return used;
    }

    MemorySegment host() {
        return host;
    }

    long device() {
        return device;
    }

    /** Only once the stream has drained. */
    void reset() {
        used = 0;
    }

    void close() {
        driver.freeHost(host);
        driver.free(device);
    }
}
