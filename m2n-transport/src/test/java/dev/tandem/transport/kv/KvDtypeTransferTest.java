package dev.tandem.transport.kv;

import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.KvRowSource;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A layer's KV through sender and receiver in the caches' own dtype, bit for bit: fp32 from one CPU
 * cache into another (scattered slots on both sides, other slots on each), bf16 from host rows;
 * rows within one MTU (claimed in the log) and above it (staged, fragmented, reassembled). Values
 * are bit patterns made by hand here, awkward ones included (−0, NaN payloads, subnormals).
 */
class KvDtypeTransferTest
{
    private static final String CHANNEL = "aeron:ipc";
    private static final int STREAM = 3201;
    private static final int LAYERS = 2;
    private static final int TOKENS = 11;
    private static final int PER_MESSAGE = 4;                         // 4 + 4 + 3 positions
    private static final int[] SOURCE_SLOTS = {9, 3, 17, 30, 0, 12, 25, 5, 31, 22, 14};
    private static final int[] TARGET_SLOTS = {1, 28, 6, 19, 11, 2, 24, 15, 8, 29, 20};
    private static final long TRANSFER = 0xC0FFEEL;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(5);

    private final AeronNode node = AeronNode.launch(TransportConfig.defaults());

    @AfterEach
    void close()
    {
        node.close();
    }

    /** kvDim 16: 560-byte messages, claimed; kvDim 1024: 32 KiB messages, staged and fragmented. */
    @ParameterizedTest
    @ValueSource(ints = {16, 1024})
    void shouldCopyAnFp32LayerFromOneCpuCacheIntoAnotherBitForBit(final int kvDim)
    {
        try (CpuBackend promptSide = new CpuBackend(1);
            CpuBackend tokenSide = new CpuBackend(1))
        {
            final KvStorage source = promptSide.allocateKv(LAYERS, 8, 4, 1, kvDim);
            final KvStorage target = tokenSide.allocateKv(LAYERS, 8, 4, 1, kvDim);
            final int[][] keyBits = new int[LAYERS][];
            final int[][] valueBits = new int[LAYERS][];
            for (int layer = 0; layer < LAYERS; layer++)
            {
                keyBits[layer] = fp32Pattern(layer, 0, kvDim);
                valueBits[layer] = fp32Pattern(layer, 1, kvDim);
                promptSide.writeKvRows(source, layer, SOURCE_SLOTS, TOKENS, floats(keyBits[layer]),
                    floats(valueBits[layer]));
            }
            final IntoCache sink = new IntoCache(tokenSide, target, kvDim);
            try (KvTransferReceiver receiver = receiver(kvDim, Dtype.FP32, sink);
                KvTransferSender sender = sender(kvDim, Dtype.FP32))
            {
                for (int layer = 0; layer < LAYERS; layer++)
                {
                    sender.sendLayer(0, TRANSFER, layer, LAYERS, 0, TOKENS, cacheRun(promptSide, source, layer));
                }
                sender.sendComplete(0, TRANSFER, LAYERS, TOKENS, 3);
                RecordingSink.pollUntil(receiver, () -> !sink.completed.isEmpty() || !sink.failed.isEmpty());

                assertEquals(List.of(), sink.failed);
                assertEquals(3 * LAYERS, sink.messages, "messages");
                for (int layer = 0; layer < LAYERS; layer++)
                {
                    final float[] keys = new float[TOKENS * kvDim];
                    final float[] values = new float[TOKENS * kvDim];
                    tokenSide.readKv(target, layer, TARGET_SLOTS, TOKENS, keys, values);
                    assertArrayEquals(keyBits[layer], bits(keys), "layer " + layer + " keys");
                    assertArrayEquals(valueBits[layer], bits(values), "layer " + layer + " values");
                }
                assertEquals(0, receiver.rejected());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {16, 1024})
    void shouldDeliverABf16LayerBitForBitAsBf16(final int kvDim)
    {
        final short[] keys = bf16Pattern(0, kvDim);
        final short[] values = bf16Pattern(1, kvDim);
        final RecordingSink sink = new RecordingSink(kvDim, Short.BYTES);
        try (KvTransferReceiver receiver = receiver(kvDim, Dtype.BF16, sink);
            KvTransferSender sender = sender(kvDim, Dtype.BF16))
        {
            final HostKvRows rows = HostKvRows.bf16(keys, values, kvDim);
            for (int layer = 0; layer < LAYERS; layer++)
            {
                sender.sendLayer(0, TRANSFER, layer, LAYERS, 0, TOKENS, rows);
            }
            sender.sendComplete(0, TRANSFER, LAYERS, TOKENS, 3);
            RecordingSink.pollUntil(receiver, () -> !sink.completed.isEmpty() || !sink.failed.isEmpty());

            assertEquals(List.of(), sink.failed);
            assertEquals(3 * LAYERS, sink.rows.size(), "messages");
            final short[] gotKeys = new short[LAYERS * TOKENS * kvDim];
            final short[] gotValues = new short[LAYERS * TOKENS * kvDim];
            for (final RecordingSink.Rows r : sink.rows)
            {
                final int n = r.count() * kvDim;
                final int at = (r.layer() * TOKENS + r.firstPosition()) * kvDim;
                MemorySegment.copy(r.rows(), ValueLayout.JAVA_SHORT, 0, gotKeys, at, n);
                MemorySegment.copy(r.rows(), ValueLayout.JAVA_SHORT, 2L * n, gotValues, at, n);
            }
            for (int layer = 0; layer < LAYERS; layer++)
            {
                assertArrayEquals(keys, slice(gotKeys, layer * TOKENS * kvDim, keys.length), "layer " + layer);
                assertArrayEquals(values, slice(gotValues, layer * TOKENS * kvDim, values.length), "layer " + layer);
            }
            assertEquals(2L * PER_MESSAGE * kvDim * Short.BYTES, sink.rows.get(0).rows().byteSize(),
                "two bytes an element on the wire");
        }
    }

    /**
     * Frames in the log (the CPU's way): 11 positions of 8 KiB keys and values go as messages of one
     * 64 KiB claim each, 7 + 4, straight into the log and out of it, not as one staged message.
     */
    @Test
    void shouldCutRunsIntoMessagesOfOneClaimWhenFramesGoInTheLog()
    {
        final int kvDim = 1024;
        final int maxTokens = 256;
        final int[] keyBits = fp32Pattern(0, 0, kvDim);
        final int[] valueBits = fp32Pattern(0, 1, kvDim);
        final RecordingSink sink = new RecordingSink(kvDim, Float.BYTES);
        try (KvTransferReceiver receiver = new KvTransferReceiver(node.aeron(), CHANNEL, STREAM, 1, kvDim, Dtype.FP32,
            maxTokens, sink);
            KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(), List.of(CHANNEL),
                STREAM, kvDim, Dtype.FP32, maxTokens, true).awaitConnected(CONNECT_TIMEOUT_NS))
        {
            sender.sendLayer(0, TRANSFER, 0, 1, 0, TOKENS, HostKvRows.fp32(floats(keyBits), floats(valueBits), kvDim));
            sender.sendComplete(0, TRANSFER, 1, TOKENS, 3);
            RecordingSink.pollUntil(receiver, () -> !sink.completed.isEmpty() || !sink.failed.isEmpty());

            assertEquals(List.of(7, 4), sink.rows.stream().map(RecordingSink.Rows::count).toList());
            final int split = 7 * kvDim;
            assertArrayEquals(keyBits, concat(bits(sink.rows.get(0).floats(0)), bits(sink.rows.get(1).floats(0))));
            assertArrayEquals(valueBits, concat(bits(sink.rows.get(0).floats(1)), bits(sink.rows.get(1).floats(1))));
            assertEquals(split, sink.rows.get(0).floats(0).length);
            assertEquals(List.of(), sink.failed);
        }
    }

    @Test
    void shouldFailATransferInAnotherDtypeThanTheCacheNamingBoth()
    {
        final int kvDim = 16;
        final RecordingSink sink = new RecordingSink(kvDim, Float.BYTES);
        try (KvTransferReceiver receiver = receiver(kvDim, Dtype.FP32, sink);
            KvTransferSender sender = sender(kvDim, Dtype.BF16))
        {
            final HostKvRows rows = HostKvRows.bf16(bf16Pattern(0, kvDim), bf16Pattern(1, kvDim), kvDim);
            for (int layer = 0; layer < LAYERS; layer++)
            {
                sender.sendLayer(0, TRANSFER, layer, LAYERS, 0, TOKENS, rows);
            }
            sender.sendComplete(0, TRANSFER, LAYERS, TOKENS, 3);
            RecordingSink.pollUntil(receiver, () -> !sink.failed.isEmpty());

            assertEquals(List.of(TRANSFER + ": its KV arrives as BF16 but this token machine's KV cache holds FP32" +
                " (both machines must cache KV in one dtype: --dtype)"), sink.failed);
            assertTrue(sink.rows.isEmpty() && sink.completed.isEmpty(), "no row reached the cache");
            assertEquals(3 * LAYERS + 1, receiver.count(KvFrameCheck.DTYPE_MISMATCH), "every message, the last too");
            assertEquals(0, receiver.transfersInProgress());
        }
    }

    @Test
    void shouldRefuseToSendRowsInAnotherDtypeThanItsFrames()
    {
        try (KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(),
            List.of(CHANNEL), STREAM, 16, Dtype.FP32, PER_MESSAGE))
        {
            final HostKvRows bf16 = HostKvRows.bf16(new short[16], new short[16], 16);
            final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> sender.sendLayer(0, TRANSFER, 0, LAYERS, 0, 1, bf16));
            assertEquals("KV rows of 2 bytes an element, but this sender's frames carry FP32", ex.getMessage());
        }
    }

    private KvTransferReceiver receiver(final int kvDim, final Dtype dtype, final KvSink sink)
    {
        return new KvTransferReceiver(node.aeron(), CHANNEL, STREAM, LAYERS, kvDim, dtype, PER_MESSAGE, sink);
    }

    private KvTransferSender sender(final int kvDim, final Dtype dtype)
    {
        return new KvTransferSender(node.aeron(), TransportConfig.defaults(), List.of(CHANNEL), STREAM, kvDim, dtype,
            PER_MESSAGE).awaitConnected(CONNECT_TIMEOUT_NS);
    }

    /** The token machine's side: each message's rows straight from the frame into its cache, at its own slots. */
    private static final class IntoCache extends RecordingSink
    {
        private final CpuBackend backend;
        private final KvStorage cache;
        int messages;

        IntoCache(final CpuBackend backend, final KvStorage cache, final int kvDim)
        {
            super(kvDim, cache.elementBytes());
            this.backend = backend;
            this.cache = cache;
        }

        @Override
        public void layerArrived(
            final long transferId, final int layer, final int firstPosition, final int count, final MemorySegment rows,
            final long offset)
        {
            backend.copyKvFromHost(cache, layer, TARGET_SLOTS, firstPosition, count, rows, offset);
            messages++;
        }
    }

    /** Rows i of a layer of the CPU cache are its slots SOURCE_SLOTS[i], as the prompt node's tap hands them over. */
    private static KvRowSource cacheRun(final CpuBackend backend, final KvStorage cache, final int layer)
    {
        return new KvRowSource()
        {
            @Override
            public int elementBytes()
            {
                return cache.elementBytes();
            }

            @Override
            public void copyTo(final int from, final int count, final MemorySegment dst, final long offset)
            {
                backend.copyKvToHost(cache, layer, SOURCE_SLOTS, from, count, dst, offset);
            }
        };
    }

    /** float32 bit patterns, distinct per layer, half, row and column, with −0, a NaN payload and subnormals. */
    private static int[] fp32Pattern(final int layer, final int half, final int kvDim)
    {
        final int[] bits = new int[TOKENS * kvDim];
        for (int i = 0; i < bits.length; i++)
        {
            bits[i] = 0x3F80_0000 + (layer << 22) + (half << 21) + i * 0x111; // 1.0 and up, every bit moving
        }
        bits[0] = 0x8000_0000;           // −0
        bits[1] = 0x7FC1_2345;           // a quiet NaN with a payload
        bits[2] = 0x0000_0001;           // the smallest subnormal
        bits[bits.length - 1] = 0xFF80_0000; // −∞
        return bits;
    }

    /** bf16 bit patterns, distinct per half, row and column, with −0, a NaN payload and a subnormal. */
    private static short[] bf16Pattern(final int half, final int kvDim)
    {
        final short[] bits = new short[TOKENS * kvDim];
        for (int i = 0; i < bits.length; i++)
        {
            bits[i] = (short)(0x3F80 + half * 0x4000 + i * 7);
        }
        bits[0] = (short)0x8000;
        bits[1] = (short)0x7FC5;
        bits[2] = (short)0x0001;
        return bits;
    }

    private static float[] floats(final int[] bits)
    {
        final float[] f = new float[bits.length];
        for (int i = 0; i < f.length; i++)
        {
            f[i] = Float.intBitsToFloat(bits[i]);
        }
        return f;
    }

    private static int[] bits(final float[] f)
    {
        final int[] b = new int[f.length];
        for (int i = 0; i < b.length; i++)
        {
            b[i] = Float.floatToRawIntBits(f[i]);
        }
        return b;
    }

    private static int[] concat(final int[] a, final int[] b)
    {
        final int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static short[] slice(final short[] a, final int from, final int n)
    {
        return java.util.Arrays.copyOfRange(a, from, from + n);
    }
}
