package dev.tandem.cuda;

import dev.tandem.core.compute.KvStorage;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The KV transfer's seam on the device ({@link CudaBackend#copyKvToHost}, {@link CudaBackend#copyKvFromHost}):
 * a run of scattered slots of one device cache out to host memory, in the cache's own type, and
 * from there into other slots of another device cache, bit for bit, in bf16 and float32, through
 * pageable memory (an Aeron term) and through page-locked memory ({@link CudaBackend#registerHost},
 * the sender's staging frame); rows of whole 4-byte words and of an odd number of bf16. Values are
 * multiples of 1/16 below 8 in magnitude, exact in bf16, so the expected host bytes are known here.
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaKvHostRowsTest {
    private static final int LAYERS = 2;
    private static final int BLOCKS = 8;
    private static final int BLOCK_SIZE = 16;
    private static final int[] SOURCE_SLOTS = {70, 3, 17, 18, 19, 127, 64, 0, 33}; // runs inside and across blocks
    private static final int[] TARGET_SLOTS = {5, 90, 91, 92, 40, 1, 126, 77, 16};
    private static final int FROM = 1;                 // the run is slots [1, 9) of the lists
    private static final int COUNT = 8;
    private static final long OFFSET = 48;             // after a KV frame's header

    @ParameterizedTest(name = "bf16 {0}, {1} KV heads of {2}, page-locked {3}")
    @CsvSource({
            "true, 2, 16, false", "true, 2, 16, true", "true, 1, 5, false", "true, 1, 5, true",
            "false, 2, 16, false", "false, 2, 16, true", "false, 1, 5, false"})
    void shouldCopyARunOfSlotsToTheHostAsCachedAndIntoAnotherCacheBitForBit(boolean bf16, int kvHeads, int headDim,
                                                                            boolean pageLocked) {
        int width = kvHeads * headDim;
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), bf16, System.err::println);
             Arena arena = Arena.ofShared()) {
            KvStorage source = gpu.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, kvHeads, headDim);
            KvStorage target = gpu.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, kvHeads, headDim);
            float[] keys = pattern(SOURCE_SLOTS.length * width, 0);
            float[] values = pattern(SOURCE_SLOTS.length * width, 1);
            gpu.writeKvRows(source, 1, SOURCE_SLOTS, SOURCE_SLOTS.length, keys, values);
            int element = bf16 ? 2 : 4;
            assertEquals(element, source.elementBytes());

            long bytes = 2L * COUNT * width * element;
            MemorySegment host = arena.allocate(OFFSET + bytes + 64, 4096);
            if (pageLocked) {
                gpu.registerHost(host);
            }
            host.fill((byte) 0x55);
            gpu.copyKvToHost(source, 1, SOURCE_SLOTS, FROM, COUNT, host, OFFSET);
            gpu.awaitWrites();

            assertArrayEquals(expectedBytes(keys, values, width, bf16), host.asSlice(OFFSET, bytes).toArray(
                    ValueLayout.JAVA_BYTE), "keys then values on the host, as the cache holds them");
            assertEquals(0x55, host.get(ValueLayout.JAVA_BYTE, OFFSET + bytes), "nothing written past the rows");

            gpu.copyKvFromHost(target, 0, TARGET_SLOTS, FROM, COUNT, host, OFFSET);
            host.fill((byte) 0); // the caller's again once the call returns
            float[] gotKeys = new float[COUNT * width];
            float[] gotValues = new float[COUNT * width];
            gpu.readKv(target, 0, java.util.Arrays.copyOfRange(TARGET_SLOTS, FROM, FROM + COUNT), COUNT, gotKeys,
                    gotValues);
            assertArrayEquals(java.util.Arrays.copyOfRange(keys, FROM * width, (FROM + COUNT) * width), gotKeys,
                    "keys in the other cache");
            assertArrayEquals(java.util.Arrays.copyOfRange(values, FROM * width, (FROM + COUNT) * width), gotValues,
                    "values in the other cache");
        }
    }

    @ParameterizedTest(name = "bf16 {0}")
    @CsvSource({"true", "false"})
    void shouldRefuseSlotsOutsideTheCacheOrRowsPastTheHostMemory(boolean bf16) {
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), bf16, System.err::println);
             Arena arena = Arena.ofConfined()) {
            KvStorage kv = gpu.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, 2, 16);
            MemorySegment host = arena.allocate(KvStorage.hostRowsBytes(kv, 2));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> gpu.copyKvToHost(kv, 0, new int[] {0, BLOCKS * BLOCK_SIZE}, 0, 2, host, 0));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> gpu.copyKvFromHost(kv, 0, new int[] {0, 1}, 0, 2, host, 1));
        }
    }

    /** Multiples of 1/16 in (−8, 8): exact in bf16; {@code half} 1 negates them. */
    private static float[] pattern(int n, int half) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (half == 0 ? 1 : -1) * ((i * 37 % 251) - 125) / 16f;
        }
        return v;
    }

    /** Rows [FROM, FROM + COUNT) of keys then of values, little-endian, bf16 as the top half of each float32. */
    private static byte[] expectedBytes(float[] keys, float[] values, int width, boolean bf16) {
        int element = bf16 ? 2 : 4;
        MemorySegment out = MemorySegment.ofArray(new byte[2 * COUNT * width * element]);
        int n = COUNT * width;
        for (int i = 0; i < n; i++) {
            int k = Float.floatToRawIntBits(keys[FROM * width + i]);
            int v = Float.floatToRawIntBits(values[FROM * width + i]);
            if (bf16) {
                out.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, (short) (k >>> 16));
                out.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * (n + i), (short) (v >>> 16));
            } else {
                out.set(ValueLayout.JAVA_INT_UNALIGNED, 4L * i, k);
                out.set(ValueLayout.JAVA_INT_UNALIGNED, 4L * (n + i), v);
            }
        }
        return out.toArray(ValueLayout.JAVA_BYTE);
    }
}
