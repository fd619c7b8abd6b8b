package dev.tandem.core.engine;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;

import java.lang.foreign.MemorySegment;

/**
 * One run of a layer's KV rows, still in the cache: whoever sends them copies them out on demand,
 * straight into the memory they leave from (a KV frame), in the cache's own element type. Valid
 * only during the call that hands it over.
 */
public interface KvRowSource {
    /** Bytes of one element as the cache holds it: 2 (bf16) or 4 (float32). */
    int elementBytes();

    /**
     * The keys, then the values, of rows {@code [from, from + count)} of the run into
     * {@code dst[offset ..)}: {@code (2, count, kvDim)} elements of {@link #elementBytes}; returns
     * once {@code dst} holds them.
     */
    void copyTo(int from, int count, MemorySegment dst, long offset);

    /**
     * As {@link #copyTo}, but into device rows from the start of {@code dst}, queued in stream
     * order: for a cache on a device whose backend has {@link ComputeBackend#openCopies copies},
     * which then DMA the rows into the frames.
     */
    default void gatherTo(int from, int count, Activations dst) {
        throw new UnsupportedOperationException("these KV rows are in host memory");
    }
}
