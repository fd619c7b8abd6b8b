package dev.tandem.core.compute;

import java.lang.foreign.MemorySegment;

/**
 * Paged key/value storage for every layer: {@code blocks × blockSize} token slots per layer,
 * each holding {@code kvHeads × headDim} keys and as many values. Which slot belongs to which
 * sequence is the block tables' business ({@link dev.tandem.core.kv.PagedKvCache}).
 */
public interface KvStorage {
    int layers();

    int blocks();

    int blockSize();

    /** Elements of one slot's keys, and of its values: kvHeads · headDim. */
    int rowWidth();

    /**
     * Bytes of one element as the cache holds it: 2 (bf16) or 4 (float32). Host rows of
     * {@link ComputeBackend#copyKvToHost} and {@link ComputeBackend#copyKvFromHost} are in this type.
     */
    int elementBytes();

    /** Bytes of {@code rows} slots' keys and values together, in the cache's own type. */
    static long hostRowsBytes(KvStorage storage, int rows) {
        return 2L * rows * storage.rowWidth() * storage.elementBytes();
    }

    /**
     * The bounds checks of {@link ComputeBackend#readKv} and {@link ComputeBackend#writeKvRows}, up
     * front, so that a bad slot fails before any row is copied.
     */
    static void checkRows(KvStorage storage, int rowFloats, int layer, int[] slots, int count, float[] keys,
                          float[] values) {
        long floats = (long) count * rowFloats;
        if (count < 0 || count > slots.length || floats > keys.length || floats > values.length) {
            throw new IndexOutOfBoundsException(count + " rows of " + rowFloats + " floats do not fit "
                    + slots.length + " slots, " + keys.length + " keys, " + values.length + " values");
        }
        checkSlots(storage, layer, slots, 0, count);
    }

    /**
     * The bounds checks of {@link ComputeBackend#copyKvToHost} and {@link ComputeBackend#copyKvFromHost}:
     * slots {@code [from, from + count)} inside the storage, and {@code host} from {@code offset} long
     * enough for their keys and values.
     */
    static void checkHostRows(KvStorage storage, int layer, int[] slots, int from, int count, MemorySegment host,
                              long offset) {
        if (from < 0 || count < 0 || from > slots.length - count) {
            throw new IndexOutOfBoundsException("slots [" + from + ", " + ((long) from + count) + ") of "
                    + slots.length);
        }
        long bytes = hostRowsBytes(storage, count);
        if (offset < 0 || offset > host.byteSize() - bytes) {
            throw new IndexOutOfBoundsException(count + " rows of keys and values (" + bytes + " bytes) do not fit "
                    + host.byteSize() + " bytes of host memory from " + offset);
        }
        checkSlots(storage, layer, slots, from, count);
    }

    private static void checkSlots(KvStorage storage, int layer, int[] slots, int from, int count) {
        if (layer < 0 || layer >= storage.layers()) {
            throw new IndexOutOfBoundsException("layer " + layer + " of " + storage.layers());
        }
        int slotCount = storage.blocks() * storage.blockSize();
        for (int i = from; i < from + count; i++) {
            if (slots[i] < 0 || slots[i] >= slotCount) {
                throw new IndexOutOfBoundsException("slot " + slots[i] + " of " + slotCount);
            }
        }
    }
}
