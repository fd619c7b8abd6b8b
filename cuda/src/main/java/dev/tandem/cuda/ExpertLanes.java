package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.Cublas;

import java.lang.foreign.MemorySegment;

/**
 * Side streams for a prompt's experts ({@link CudaExperts#groups}): expert g's chain (gate|up,
 * SiLU, down) runs on lane g mod lanes, each lane with a cuBLAS handle and workspace of its own
 * (handles must not share a workspace across streams), so that one expert's last partial wave of
 * GEMM tiles overlaps the next one's first. At ~512 rows an expert, gate|up is 448 output tiles
 * of 128 × 256: 3.4 waves on 132 SMs, one after another on a single stream.
 */
final class ExpertLanes {
    private final CudaDriver driver;
    private final Cublas cublas;
    private final MemorySegment main;
    private final MemorySegment[] streams;
    private final MemorySegment[] handles;
    private final MemorySegment[] done;
    private final MemorySegment forked;

    /** {@code workspaces[i]}: device memory of {@code workspaceBytes} for lane i's handle. */
    ExpertLanes(CudaDriver driver, Cublas cublas, MemorySegment main, long[] workspaces, long workspaceBytes) {
        this.driver = driver;
        this.cublas = cublas;
        this.main = main;
        int lanes = workspaces.length;
        streams = new MemorySegment[lanes];
        handles = new MemorySegment[lanes];
        done = new MemorySegment[lanes];
        forked = driver.createOrderingEvent();
        for (int i = 0; i < lanes; i++) {
            streams[i] = driver.createStream();
            handles[i] = cublas.create(streams[i], workspaces[i], workspaceBytes);
            done[i] = driver.createOrderingEvent();
        }
    }

    int count() {
        return streams.length;
    }

    /** The lanes start after everything enqueued on the main stream so far. */
    void fork() {
        driver.record(forked, main);
        for (MemorySegment s : streams) {
            driver.waitEvent(s, forked);
        }
    }

    /** The main stream goes on once every lane is done. */
    void join() {
        for (int i = 0; i < streams.length; i++) {
            driver.record(done[i], streams[i]);
            driver.waitEvent(main, done[i]);
        }
    }

    MemorySegment stream(int lane) {
        return streams[lane];
    }

    MemorySegment handle(int lane) {
        return handles[lane];
    }

    /** After the main stream has drained (it waits on every lane's last work). */
    void close() {
        for (int i = 0; i < streams.length; i++) {
            cublas.destroy(handles[i]);
            driver.destroyStream(streams[i]);
            driver.destroyEvent(done[i]);
        }
        driver.destroyEvent(forked);
    }
}
