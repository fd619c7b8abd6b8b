package dev.tandem.core.kv;

import dev.tandem.core.compute.KvStorage;

/**
 * Hands out fixed-size blocks of a {@link KvStorage} to sequences. A sequence reserves every block
 * it may need before it is admitted, so that no request runs out of memory mid-way.
 */
public final class PagedKvCache {
    private final KvStorage storage;
    private final int blockSize;
    private final int[] free;
    private int freeCount;

    public PagedKvCache(KvStorage storage) {
        this.storage = storage;
        this.blockSize = storage.blockSize();
        this.free = new int[storage.blocks()];
        for (int b = 0; b < free.length; b++) {
            free[b] = free.length - 1 - b; // hand out low block numbers first
        }
        this.freeCount = free.length;
    }

    public KvStorage storage() {
        return storage;
    }

    public int blockSize() {
        return blockSize;
    }

    public int freeBlocks() {
        return freeCount;
    }

    public int totalBlocks() {
        return free.length;
    }

    public int blocksFor(int tokens) {
        return (tokens + blockSize - 1) / blockSize;
    }

    /** Grows {@code table} to hold {@code tokens} positions; false (and no change) if blocks are short. */
    public boolean reserve(BlockTable table, int tokens) {
        int needed = blocksFor(tokens) - table.size();
        if (needed > freeCount) {
            return false;
        }
        for (int i = 0; i < needed; i++) {
            table.append(free[--freeCount]);
        }
        return true;
    }

    public void release(BlockTable table) {
        while (table.size() > 0) {
            free[freeCount++] = table.removeLast();
        }
    }

    /** The storage slot of {@code position} in the sequence that owns {@code table}. */
    public int slot(BlockTable table, int position) {
        return table.blocks()[position / blockSize] * blockSize + position % blockSize;
    }
}
