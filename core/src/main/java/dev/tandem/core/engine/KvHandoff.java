package dev.tandem.core.engine;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.core.kv.BlockTable;
import dev.tandem.core.kv.PagedKvCache;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * The token machine's side of Splitwise's KV transfer: reserves blocks of this machine's cache
 * for a transfer before the prompt machine starts, writes each arriving layer's rows into them
 * (position p of the transfer goes to this cache's slot for p, whatever slot it had on the prompt
 * machine), and hands the filled blocks to {@link Generator#resume} once every layer arrived.
 * Use on the thread that steps the generator: it shares the cache and the backend with it.
 */
public final class KvHandoff {
    private final ComputeBackend backend;
    private final PagedKvCache cache;
    private final Map<Long, BlockTable> transfers = new HashMap<>();
    private int[] slots = new int[64];
    private final KvLandings landings;

    public KvHandoff(ComputeBackend backend, PagedKvCache cache) {
        this.backend = backend;
        this.cache = cache;
        this.landings = new KvLandings(backend);
    }

    /**
     * Reserves blocks for {@code tokens} positions (the prompt and the first token's: the resumed
     * request takes more as it grows); false, and nothing reserved, when the cache is short.
     *
     * @throws TandemException if the transfer already has blocks
     */
    public boolean reserve(long transferId, int tokens) {
        if (transfers.containsKey(transferId)) {
            throw new TandemException("KV transfer " + transferId + " already has blocks reserved");
        }
        BlockTable table = new BlockTable();
        if (!cache.reserve(table, tokens)) {
            return false;
        }
        transfers.put(transferId, table);
        return true;
    }

    /**
     * Stores the keys, then the values, of {@code layer} for positions
     * {@code firstPosition .. firstPosition + count − 1} of the transfer, {@code (2, count, kvDim)}
     * elements of the cache's own type ({@link #elementBytes}) at {@code rows[offset ..)}, straight
     * from there into the cache; {@code rows} may be reused once this returns.
     *
     * @throws TandemException if the transfer is unknown or the positions exceed its reservation
     */
    public void write(long transferId, int layer, int firstPosition, int count, MemorySegment rows, long offset) {
        fillSlots(transferId, firstPosition, count);
        backend.copyKvFromHost(cache.storage(), layer, slots, 0, count, rows, offset);
    }

    /** This cache's slots for the transfer's positions {@code [firstPosition, firstPosition + count)}, into {@link #slots}. */
    private void fillSlots(long transferId, int firstPosition, int count) {
        BlockTable table = table(transferId);
        long end = (long) firstPosition + count;
        if (firstPosition < 0 || end > (long) table.size() * cache.blockSize()) {
            throw new TandemException("KV transfer " + transferId + ": positions [" + firstPosition + ", " + end
                    + ") fall outside its " + table.size() * cache.blockSize() + " reserved positions");
        }
        if (count > slots.length) {
            slots = new int[count];
        }
        for (int i = 0; i < count; i++) {
            slots[i] = cache.slot(table, firstPosition + i);
        }
    }

    /**
     * The DMAs that land arriving rows on this machine's device, or null where the cache is in host
     * memory: then rows arrive through {@link #write}, else through {@link #landing} and
     * {@link #writeLanded}.
     */
    public DeviceCopies deviceCopies() {
        return landings.copies();
    }

    /** The device address of landing area {@code slot} ({@link KvLandings}), with room for {@code bytes}. */
    public long landing(int slot, long bytes) {
        return landings.address(slot, bytes);
    }

    /**
     * As {@link #write}, from landing area {@code slot} ({@link #landing}), which the DMAs into it
     * must have filled (awaited); in stream order.
     */
    public void writeLanded(long transferId, int layer, int firstPosition, int count, int slot) {
        fillSlots(transferId, firstPosition, count);
        backend.scatterKv(cache.storage(), layer, slots, 0, count, landings.rows(slot));
        landings.afterScatter();
    }

    /** Landing area {@code slot}'s first {@code bytes} into host memory {@code dst}, done when this returns (rows that came early). */
    public void copyLandedToHost(int slot, long bytes, MemorySegment dst) {
        landings.toHost(slot, bytes, dst);
    }

    /** Bytes of one element as this machine's cache holds it, and so as arriving rows must be: 2 (bf16) or 4. */
    public int elementBytes() {
        return cache.storage().elementBytes();
    }

    /** Ends the transfer and hands its filled blocks over, for {@link Generator#resume}. */
    public BlockTable take(long transferId) {
        BlockTable table = table(transferId);
        transfers.remove(transferId);
        return table;
    }

    /** Abandons the transfer (the prompt machine failed, the request was cancelled) and frees its blocks. */
    public void release(long transferId) {
        BlockTable table = transfers.remove(transferId);
        if (table != null) {
            cache.release(table);
        }
    }

    /** Transfers with blocks reserved and not yet taken. */
    public int pending() {
        return transfers.size();
    }

    private BlockTable table(long transferId) {
        BlockTable table = transfers.get(transferId);
        if (table == null) {
            throw new TandemException("KV transfer " + transferId + " has no blocks reserved on this machine");
        }
        return table;
    }
}
