package dev.tandem.cuda;

import dev.tandem.core.compute.KvStorage;

/**
 * The paged KV cache in device memory, one allocation: per layer, keys then values, each
 * {@code (blocks · blockSize, kvHeads · headDim)} rows of bf16 or float32.
 */
final class CudaKvStorage implements KvStorage {
    final long base;
    final int layers;
    final int blocks;
    final int blockSize;
    final int rowWidth;     // kvHeads · headDim
    final int elementBytes; // 2 (bf16) or 4 (float32)

    CudaKvStorage(long base, int layers, int blocks, int blockSize, int rowWidth, int elementBytes) {
        this.base = base;
        this.layers = layers;
        this.blocks = blocks;
        this.blockSize = blockSize;
        this.rowWidth = rowWidth;
        this.elementBytes = elementBytes;
    }

    static long bytes(int layers, int blocks, int blockSize, int rowWidth, int elementBytes) {
        return 2L * layers * blocks * blockSize * rowWidth * elementBytes;
    }

    long keys(int layer) {
        return base + 2L * layer * layerBytes();
    }

    long values(int layer) {
        return keys(layer) + layerBytes();
    }

    private long layerBytes() {
        return (long) blocks * blockSize * rowWidth * elementBytes;
    }

    @Override
    public int layers() {
        return layers;
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
        return rowWidth;
    }

    @Override
    public int elementBytes() {
        return elementBytes;
    }
}
