package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.KvStorage;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Host copies of KV rows by slot: what the attention wrote comes back bit for bit, and goes back in. */
class CpuKvRowsTest {
    private static final int LAYERS = 3;
    private static final int BLOCKS = 6;
    private static final int BLOCK_SIZE = 4;
    private static final int KV_HEADS = 2;
    private static final int HEAD_DIM = 8;
    private static final int ROW = KV_HEADS * HEAD_DIM;
    private static final int LAYER = 1;
    private static final int[] SLOTS = {17, 2, 23, 8, 9}; // scattered over blocks 0, 2, 4, 5

    @Test
    void shouldReadBackTheRowsThatWriteKvStored() {
        Random random = new Random(7);
        float[] keys = TestTensors.gaussian(random, SLOTS.length * ROW);
        float[] values = TestTensors.gaussian(random, SLOTS.length * ROW);
        try (CpuBackend backend = new CpuBackend(1)) {
            KvStorage kv = backend.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM);
            Activations k = backend.allocate(SLOTS.length, ROW);
            Activations v = backend.allocate(SLOTS.length, ROW);
            fill(k, keys);
            fill(v, values);
            backend.writeKv(kv, LAYER, k, v, SLOTS, SLOTS.length);

            float[] readKeys = new float[keys.length];
            float[] readValues = new float[values.length];
            backend.readKv(kv, LAYER, SLOTS, SLOTS.length, readKeys, readValues);

            assertArrayEquals(keys, readKeys);
            assertArrayEquals(values, readValues);
        }
    }

    @Test
    void shouldRoundTripHostRowsIntoOtherSlotsWithoutTouchingOtherLayers() {
        Random random = new Random(11);
        float[] keys = TestTensors.gaussian(random, SLOTS.length * ROW);
        float[] values = TestTensors.gaussian(random, SLOTS.length * ROW);
        int[] otherSlots = {0, 1, 2, 3, 4};
        try (CpuBackend backend = new CpuBackend(1)) {
            KvStorage kv = backend.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM);
            backend.writeKvRows(kv, LAYER, otherSlots, otherSlots.length, keys, values);

            float[] readKeys = new float[keys.length];
            float[] readValues = new float[values.length];
            backend.readKv(kv, LAYER, otherSlots, otherSlots.length, readKeys, readValues);
            assertArrayEquals(keys, readKeys);
            assertArrayEquals(values, readValues);

            backend.readKv(kv, LAYER - 1, otherSlots, otherSlots.length, readKeys, readValues);
            assertArrayEquals(new float[keys.length], readKeys);
            assertArrayEquals(new float[values.length], readValues);
        }
    }

    @Test
    void shouldRefuseSlotsOutsideTheStorageBeforeCopyingAnything() {
        float[] rows = new float[2 * ROW];
        try (CpuBackend backend = new CpuBackend(1)) {
            KvStorage kv = backend.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM);
            int[] slots = {3, BLOCKS * BLOCK_SIZE};
            assertThrows(IndexOutOfBoundsException.class, () -> backend.writeKvRows(kv, LAYER, slots, 2, rows, rows));
            assertThrows(IndexOutOfBoundsException.class, () -> backend.readKv(kv, LAYERS, new int[] {0}, 1, rows, rows));
            assertThrows(IndexOutOfBoundsException.class, () -> backend.readKv(kv, LAYER, new int[] {0, 1, 2}, 3, rows, rows));
        }
    }

    private static void fill(Activations a, float[] rows) {
        CpuActivations cpu = (CpuActivations) a;
        for (int i = 0; i < rows.length; i++) {
            cpu.set(i / ROW, i % ROW, rows[i]);
        }
    }
}
