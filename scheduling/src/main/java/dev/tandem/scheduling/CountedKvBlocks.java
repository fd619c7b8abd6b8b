package dev.tandem.scheduling;

/**
 * A KV cache that only counts blocks, for a machine on a virtual clock: each sequence keeps the
 * count it holds. Takes and frees as {@link KvBlocks} says, all or nothing.
 *
 * @param <S> a sequence that keeps its block count
 */
public final class CountedKvBlocks<S extends CountedKvBlocks.Holder> implements KvBlocks<S> {
    /** What a sequence of a counted cache keeps. */
    public interface Holder {
        int heldBlocks();

        void heldBlocks(int blocks);
    }

    private final int blockSize;
    private final int totalBlocks;
    private int freeBlocks;

    public CountedKvBlocks(int totalBlocks, int blockSize) {
        if (totalBlocks < 0 || blockSize < 1) {
            throw new IllegalArgumentException("blocks " + totalBlocks + " of " + blockSize + " positions");
        }
        this.blockSize = blockSize;
        this.totalBlocks = totalBlocks;
        this.freeBlocks = totalBlocks;
    }

    @Override
    public boolean reserve(S s, int positions) {
        int needed = blocksFor(positions) - s.heldBlocks();
        if (needed > freeBlocks) {
            return false;
        }
        if (needed > 0) {
            freeBlocks -= needed;
            s.heldBlocks(s.heldBlocks() + needed);
        }
        return true;
    }

    @Override
    public void release(S s) {
        freeBlocks += s.heldBlocks();
        s.heldBlocks(0);
    }

    @Override
    public int freeBlocks() {
        return freeBlocks;
    }

    @Override
    public int totalBlocks() {
        return totalBlocks;
    }

    @Override
    public int blocksFor(int positions) {
        return (positions + blockSize - 1) / blockSize;
    }

    @Override
    public int heldBlocks(S s) {
        return s.heldBlocks();
    }
}
