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

    /**
     * The bounds checks of {@link ComputeBackend#readKv} and {@link ComputeBackend#writeKvRows}, up
     * front, so that a bad slot fails before any row is copied.
     */
    static void checkRows(KvStorage storage, int rowFloats, int layer, int[] slots, int count, float[] keys,
                          float[] values) {
        if (layer < 0 || layer >= storage.layers()) {
            throw new IndexOutOfBoundsException("layer " + layer + " of " + storage.layers());
        }
        long floats = (long) count * rowFloats;
        if (count < 0 || count > slots.length || floats > keys.length || floats > values.length) {
            throw new IndexOutOfBoundsException(count + " rows of " + rowFloats + " floats do not fit "
                    + slots.length + " slots, " + keys.length + " keys, " + values.length + " values");
        }
        int slotCount = storage.blocks() * storage.blockSize();
        for (int i = 0; i < count; i++) {
            if (slots[i] < 0 || slots[i] >= slotCount) {
                throw new IndexOutOfBoundsException("slot " + slots[i] + " of " + slotCount);
            }
        }
    }
}
