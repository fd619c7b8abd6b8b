package dev.tandem.core.compute;

/**
 * Paged key/value storage for every layer: {@code blocks × blockSize} token slots per layer,
 * each holding {@code kvHeads × headDim} keys and as many values. Which slot belongs to which
 * sequence is the block tables' business ({@link dev.tandem.core.kv.PagedKvCache}).
 */
public interface KvStorage {
    int layers();

    int blocks();

    int blockSize();
}
