package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.KvStorage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Per layer, keys and values as (blocks · blockSize, kvHeads · headDim) float32 rows. */
final class CpuKvStorage implements KvStorage {
    final MemorySegment[] keys;
    final MemorySegment[] values;
    final int blocks;
    final int blockSize;
    final int rowFloats;

    CpuKvStorage(Arena arena, int layers, int blocks, int blockSize, int kvHeads, int headDim) {
        this.blocks = blocks;
        this.blockSize = blockSize;
        this.rowFloats = kvHeads * headDim;
        long bytes = (long) blocks * blockSize * rowFloats * Float.BYTES;
        keys = new MemorySegment[layers];
        values = new MemorySegment[layers];
        for (int l = 0; l < layers; l++) {
            keys[l] = arena.allocate(bytes, 64);
            values[l] = arena.allocate(bytes, 64);
        }
    }

    @Override
    public int layers() {
        return keys.length;
    }

    @Override
    public int blocks() {
        return blocks;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public int rowWidth() {
        return rowFloats;
    }

    @Override
    public int elementBytes() {
        return Float.BYTES;
    }
}
