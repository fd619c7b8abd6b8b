package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.KvStorage;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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

    @Test
    void shouldCopyKeysThenValuesOfASlotRunToHostMemoryAsTheCacheHoldsThemAndBack() {
        float[] keys = new float[SLOTS.length * ROW];
        float[] values = new float[SLOTS.length * ROW];
        for (int i = 0; i < keys.length; i++) { // by hand: key i is i + 0.25, value i is -i (so -0 first)
            keys[i] = i + 0.25f;
            values[i] = -i;
        }
        try (CpuBackend backend = new CpuBackend(1); Arena arena = Arena.ofConfined()) {
            KvStorage kv = backend.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM);
            backend.writeKvRows(kv, LAYER, SLOTS, SLOTS.length, keys, values);
            long offset = 48;                             // after a frame's header
            int from = 1;                                 // slots 2, 23, 8: a run inside the list
            int count = 3;
            MemorySegment host = arena.allocate(offset + 2L * count * ROW * Float.BYTES);
            backend.copyKvToHost(kv, LAYER, SLOTS, from, count, host, offset);

            float[] got = host.asSlice(offset).toArray(ValueLayout.JAVA_FLOAT);
            for (int i = 0; i < count * ROW; i++) {
                assertEquals(Float.floatToRawIntBits(keys[from * ROW + i]), Float.floatToRawIntBits(got[i]), "key " + i);
                assertEquals(Float.floatToRawIntBits(values[from * ROW + i]),
                        Float.floatToRawIntBits(got[count * ROW + i]), "value " + i);
            }

            int[] otherSlots = {4, 5, 6, 7, 13, 14};
            backend.copyKvFromHost(kv, 0, otherSlots, 2, count, host, offset); // into slots 6, 7, 13 of layer 0
            float[] readKeys = new float[count * ROW];
            float[] readValues = new float[count * ROW];
            backend.readKv(kv, 0, new int[] {6, 7, 13}, count, readKeys, readValues);
            assertArrayEquals(java.util.Arrays.copyOfRange(keys, from * ROW, (from + count) * ROW), readKeys);
            assertArrayEquals(java.util.Arrays.copyOfRange(values, from * ROW, (from + count) * ROW), readValues);
            assertEquals(Float.BYTES, kv.elementBytes());
            assertEquals(ROW, kv.rowWidth());
        }
    }

    @Test
    void shouldRefuseHostRowsThatDoNotFitBeforeCopyingAnything() {
        try (CpuBackend backend = new CpuBackend(1); Arena arena = Arena.ofConfined()) {
            KvStorage kv = backend.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM);
            MemorySegment twoRows = arena.allocate(2L * 2 * ROW * Float.BYTES).fill((byte) 0x3f); // 0.75 each
            assertThrows(IndexOutOfBoundsException.class,
                    () -> backend.copyKvToHost(kv, LAYER, SLOTS, 0, 2, twoRows, 4), "past the end of host memory");
            assertThrows(IndexOutOfBoundsException.class,
                    () -> backend.copyKvToHost(kv, LAYER, SLOTS, 4, 2, twoRows, 0), "past the end of the slots");
            assertThrows(IndexOutOfBoundsException.class,
                    () -> backend.copyKvFromHost(kv, LAYER, new int[] {0, BLOCKS * BLOCK_SIZE}, 0, 2, twoRows, 0));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> backend.copyKvFromHost(kv, LAYERS, new int[] {0}, 0, 1, twoRows, 0));
            float[] nothing = new float[ROW];
            backend.readKv(kv, LAYER, new int[] {0}, 1, nothing, nothing);
            assertArrayEquals(new float[ROW], nothing, "slot 0 was not written before slot 24 was refused");
        }
    }

    private static void fill(Activations a, float[] rows) {
        CpuActivations cpu = (CpuActivations) a;
        for (int i = 0; i < rows.length; i++) {
            cpu.set(i / ROW, i % ROW, rows[i]);
        }
    }
}
