package dev.tandem.core.engine;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.KvStorage;

import java.lang.foreign.MemorySegment;

/**
 * A run of one layer's KV rows still in the cache, as the prompt machine hands it to its sender:
 * rows i of the run are slots {@code slots[first + i]}, copied out on demand in the cache's own type
 * ({@link ComputeBackend#copyKvToHost}). A flyweight, pointed at each run in turn with {@link #of}.
 */
public final class CacheKvRows implements KvRowSource {
    private final ComputeBackend backend;
    private KvStorage kv;
    private int layer;
    private int[] slots;
    private int first;

    /** @param backend the backend that computes into the caches this reads */
    public CacheKvRows(ComputeBackend backend) {
        this.backend = backend;
    }

    /** This flyweight over layer {@code layer}'s slots {@code slots[first ..)} of {@code kv}. */
    public CacheKvRows of(KvStorage kv, int layer, int[] slots, int first) {
        this.kv = kv;
        this.layer = layer;
        this.slots = slots;
        this.first = first;
        return this;
    }

    @Override
    public int elementBytes() {
        return kv.elementBytes();
    }

    @Override
    public void copyTo(int from, int count, MemorySegment dst, long offset) {
        backend.copyKvToHost(kv, layer, slots, first + from, count, dst, offset);
        backend.awaitWrites(); // a device copies asynchronously; the frame is sent when this returns
    }

    @Override
    public void gatherTo(int from, int count, Activations dst) {
        backend.gatherKv(kv, layer, slots, first + from, count, dst);
    }
}
