package dev.tandem.core.kv;

import java.util.Arrays;

/** The KV blocks of one sequence, in position order: position p lives in block {@code p / blockSize}. */
public final class BlockTable {
    private int[] blocks = new int[4];
    private int count;

    /** The backing array, shared with {@link dev.tandem.core.compute.TokenBatch}; valid for {@link #size()} entries. */
    public int[] blocks() {
        return blocks;
    }

    public int size() {
        return count;
    }

    void append(int block) {
        if (count == blocks.length) {
            blocks = Arrays.copyOf(blocks, count * 2);
        }
        blocks[count++] = block;
    }

    int removeLast() {
        return blocks[--count];
    }
}
