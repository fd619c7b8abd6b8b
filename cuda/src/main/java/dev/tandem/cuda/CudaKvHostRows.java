package dev.tandem.cuda;

import dev.tandem.core.compute.KvStorage;

import java.lang.foreign.MemorySegment;

/**
 * A layer's KV rows between the device cache and host memory in the cache's own type, for the KV
 * transfer ({@link CudaBackend#copyKvToHost}, {@link CudaBackend#copyKvFromHost}): one kernel gathers
 * the listed slots' keys and values into contiguous scratch rows (or scatters them back out), and
 * one DMA moves them all, keys then values, the layout of a KV frame. A gather and one copy beat a
 * copy per block of 16 positions: each cuMemcpyAsync costs microseconds to enqueue from Java.
 * Into page-locked host memory ({@link CudaBackend#registerHost}) the DMA runs at the bus's rate;
 * into pageable memory (the receiver's reassembly buffer, an Aeron term) the driver stages it, slower
 * but correct. Page-locking those at first use would need the registration tied to the buffer's
 * life: a term unmapped and another mapped at the same address would otherwise DMA stale pages.
 */
final class CudaKvHostRows {
    private final CudaBackend b;
    private final MemorySegment gather4;  // gather_kv_w4: rows of whole 4-byte words
    private final MemorySegment gather2;  // gather_kv_w2: rows of an odd number of bf16
    private final MemorySegment scatter4;
    private final MemorySegment scatter2;
    private int[] run = new int[64];      // the slots of one call, from index 0, for the argument upload

    CudaKvHostRows(CudaBackend backend, KernelModule module) {
        this.b = backend;
        this.gather4 = module.function("gather_kv_w4");
        this.gather2 = module.function("gather_kv_w2");
        this.scatter4 = module.function("scatter_kv_w4");
        this.scatter2 = module.function("scatter_kv_w2");
    }

    /** Enqueues the gather and the copy into {@code dst}; a pageable {@code dst} is written when this returns. */
    void toHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment dst, long offset) {
        KvStorage.checkHostRows(kv, layer, slots, from, count, dst, offset);
        requireNative(dst);
        if (count == 0) {
            return;
        }
        b.ops.notInGraph(); // a copy to the host is no part of a replayed step
        long bytes = KvStorage.hostRowsBytes(kv, count);
        long rows = b.scratch(bytes); // before the gather's argument upload: growing it drains the argument area
        gather(kv, layer, slots, from, count, rows);
        // the directional copy, which takes pageable memory by its contract (cuMemcpyAsync's pointer
        // inference is only relied on for registered memory elsewhere); returns once done if pageable
        b.driver.copyToHost(MemorySegment.ofAddress(dst.address() + offset), rows, bytes, b.stream);
    }

    /**
     * Enqueues the copy out of {@code src} and the scatter. The copy reads pageable memory before the
     * call returns; from page-locked memory it runs later, so then this waits for it: {@code src} is
     * the caller's again (Aeron's, for a frame) as soon as this returns.
     */
    void fromHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment src, long offset) {
        KvStorage.checkHostRows(kv, layer, slots, from, count, src, offset);
        if (count == 0) {
            return;
        }
        requireNative(src);
        b.ops.notInGraph();
        long bytes = KvStorage.hostRowsBytes(kv, count);
        long rows = b.scratch(bytes);
        long host = src.address() + offset;
        b.driver.copyToDevice(rows, MemorySegment.ofAddress(host), bytes, b.stream);
        scatter(kv, layer, slots, from, count, rows);
        if (b.isRegistered(host, bytes)) {
            b.drain();
        }
    }

    /** Enqueues the gather of the slots' keys, then values, into contiguous device rows at {@code rows}. */
    void gather(KvStorage kv, int layer, int[] slots, int from, int count, long rows) {
        move(kv, layer, slots, from, count, rows, true);
    }

    /** Enqueues the scatter of contiguous device rows at {@code rows} (keys, then values) into the slots. */
    void scatter(KvStorage kv, int layer, int[] slots, int from, int count, long rows) {
        move(kv, layer, slots, from, count, rows, false);
    }

    private void move(KvStorage kv, int layer, int[] slots, int from, int count, long rows, boolean gather) {
        CudaKvStorage s = (CudaKvStorage) kv;
        if (from < 0 || count < 0 || from > slots.length - count || layer < 0 || layer >= s.layers()) {
            throw new IndexOutOfBoundsException("slots [" + from + ", " + ((long) from + count) + ") of " + slots.length
                    + ", layer " + layer);
        }
        if (count == 0) {
            return;
        }
        b.ops.notInGraph(); // the transfer's rows are no part of a replayed step
        long slotPtr = slotsOnDevice(slots, from, count);
        int rowBytes = s.rowWidth * s.elementBytes;
        boolean w4 = rowBytes % 4 == 0;
        int words = rowBytes / (w4 ? 4 : 2);
        if (gather) {
            b.args.reset().p(rows).p(s.keys(layer)).p(s.values(layer)).p(slotPtr).i(count).i(words);
            b.launchRows(w4 ? gather4 : gather2, 2 * count, words, "gather_kv");
        } else {
            b.args.reset().p(s.keys(layer)).p(s.values(layer)).p(rows).p(slotPtr).i(count).i(words);
            b.launchRows(w4 ? scatter4 : scatter2, 2 * count, words, "scatter_kv");
        }
    }

    /** A DMA needs an address: rows on the Java heap are refused, not copied from a wrong one. */
    private static void requireNative(MemorySegment host) {
        if (!host.isNative()) {
            throw new IllegalArgumentException("KV rows for the device must be in off-heap memory, not " + host);
        }
    }

    private long slotsOnDevice(int[] slots, int from, int count) {
        if (from == 0) {
            return b.hostArgs.ints(slots, count);
        }
        if (run.length < count) {
            run = new int[Math.max(count, 2 * run.length)];
        }
        System.arraycopy(slots, from, run, 0, count);
        return b.hostArgs.ints(run, count);
    }
}
