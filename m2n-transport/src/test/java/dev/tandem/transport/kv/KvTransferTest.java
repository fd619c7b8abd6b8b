package dev.tandem.transport.kv;

import dev.tandem.core.TandemException;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import io.aeron.ExclusivePublication;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static java.nio.ByteOrder.LITTLE_ENDIAN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** KV transfer messages over Aeron IPC: codec, fragmentation, splitting, hostile frames, failures. */
class KvTransferTest
{
    private static final String CHANNEL = "aeron:ipc";
    private static final int STREAM = 3001;
    private static final int LAYERS = 2;
    private static final int KV_DIM = 16;
    private static final int MAX_TOKENS = 8;
    private static final long TRANSFER = 0x1234_5678_9ABCL;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(5);

    private final AeronNode node = AeronNode.launch(TransportConfig.defaults());
    private final String aeronDir = node.aeronDirectoryName();

    @AfterEach
    void close()
    {
        node.close();
        assertFalse(Files.exists(Path.of(aeronDir)), "the embedded driver's directory is deleted");
    }

    @Test
    void shouldRoundTripHeaderThroughBuffer()
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(1024));
        new KvLayerFlyweight().wrap(buffer, 16)
            .writeHeader(TRANSFER, 1, LAYERS, 1 << 20, 3, KV_DIM, Dtype.FP32, KvLayerFlyweight.FLAG_LAST, 77);
        final KvLayerFlyweight read = new KvLayerFlyweight().wrap((DirectBuffer)buffer, 16); // the read-only wrap
        assertEquals(0x54, buffer.getByte(16), "magic is little-endian 'T' first");
        assertEquals(TRANSFER, read.transferId());
        assertEquals(1, read.layer());
        assertEquals(LAYERS, read.layers());
        assertEquals(1 << 20, read.firstPosition());
        assertEquals(3, read.tokenCount());
        assertEquals(KV_DIM, read.kvDim());
        assertEquals(77, read.firstToken());
        assertTrue(read.isLast());
        assertEquals(2 * 3 * KV_DIM * 4, read.payloadLength());
        assertEquals(48 + 3 * KV_DIM * 4, KvLayerFlyweight.valuesOffset(3, KV_DIM, Dtype.FP32));
    }

    @Test
    void shouldDeliverRowsAboveOneMtuExactlySplitAtTheMessageCap()
    {
        final int kvDim = 1024;          // Mixtral-8x7B: 8 KV heads of 128
        final int perMessage = 300;      // 2.4 MB a message: ~300 fragments of one 8 KiB MTU
        final int tokens = 700;          // 300 + 300 + 100
        final SplittableRandom random = new SplittableRandom(3);
        final float[] keys = randomRows(random, tokens * kvDim);
        final float[] values = randomRows(random, tokens * kvDim);
        final RecordingSink sink = new RecordingSink(kvDim, Float.BYTES);
        try (KvTransferReceiver receiver = new KvTransferReceiver(node.aeron(), CHANNEL, STREAM, 1, kvDim, Dtype.FP32,
            perMessage, sink);
            KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(), List.of(CHANNEL),
                STREAM, kvDim, Dtype.FP32, perMessage).awaitConnected(CONNECT_TIMEOUT_NS))
        {
            sender.sendLayer(0, TRANSFER, 0, 1, 0, tokens, HostKvRows.fp32(keys, values, kvDim));
            sender.sendComplete(0, TRANSFER, 1, tokens, 5);
            RecordingSink.pollUntil(receiver, () -> !sink.completed.isEmpty());

            assertEquals(3, sink.rows.size());
            int position = 0;
            for (final RecordingSink.Rows r : sink.rows)
            {
                assertEquals(position, r.firstPosition());
                final int n = r.count() * kvDim;
                assertArrayEquals(slice(keys, position * kvDim, n), r.floats(0));
                assertArrayEquals(slice(values, position * kvDim, n), r.floats(1));
                position += r.count();
            }
            assertEquals(tokens, position);
            assertArrayEquals(new long[]{TRANSFER, 5}, sink.completed.get(0));
            assertEquals(0, receiver.rejected());
            assertEquals(0, receiver.transfersInProgress());
        }
    }

    @Test
    void shouldCountAndDropHostileFramesThenStillDeliverAValidTransfer()
    {
        final RecordingSink sink = new RecordingSink(KV_DIM, Float.BYTES);
        final UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(4096));
        try (KvTransferReceiver receiver = smallReceiver(sink);
            ExclusivePublication raw = node.aeron().addExclusivePublication(CHANNEL, STREAM))
        {
            awaitConnected(raw);
            final SplittableRandom random = new SplittableRandom(9);
            for (int i = 0; i < 48; i++)
            {
                frame.putLong(i * 8, random.nextLong());
            }
            offer(raw, frame, 48 + 100);                                                  // garbage
            validFrame(frame, 2);
            offer(raw, frame, KvLayerFlyweight.HEADER_LENGTH - 1);                         // truncated below a header
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.MAGIC_FIELD_OFFSET, 0x4E324D54, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putShort(KvLayerFlyweight.VERSION_FIELD_OFFSET, (short)2, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putByte(KvLayerFlyweight.DTYPE_FIELD_OFFSET, (byte)7));          // no such dtype
            hostile(raw, frame, f -> f.putByte(KvLayerFlyweight.FLAGS_FIELD_OFFSET, (byte)0x4));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.LAYERS_FIELD_OFFSET, LAYERS + 1, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.LAYER_FIELD_OFFSET, -1, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.KV_DIM_FIELD_OFFSET, KV_DIM * 2, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.TOKEN_COUNT_FIELD_OFFSET, MAX_TOKENS + 1, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.FIRST_POSITION_FIELD_OFFSET, -3, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.PAYLOAD_LENGTH_FIELD_OFFSET, 8, LITTLE_ENDIAN));
            hostile(raw, frame, f -> f.putInt(KvLayerFlyweight.RESERVED_FIELD_OFFSET, 1, LITTLE_ENDIAN));
            offer(raw, frame, validFrame(frame, 2) - 4);                                   // rows cut short
            RecordingSink.pollUntil(receiver, () -> receiver.rejected() == 14);

            assertEquals(2, receiver.count(KvFrameCheck.BAD_MAGIC), "the garbage and the M2N magic");
            assertEquals(1, receiver.count(KvFrameCheck.TOO_SHORT));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_VERSION));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_DTYPE));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_FLAGS));
            assertEquals(2, receiver.count(KvFrameCheck.BAD_LAYER));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_KV_DIM));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_TOKEN_COUNT));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_POSITION));
            assertEquals(1, receiver.count(KvFrameCheck.BAD_PAYLOAD_LENGTH));
            assertEquals(1, receiver.count(KvFrameCheck.RESERVED_NOT_ZERO));
            assertEquals(1, receiver.count(KvFrameCheck.LENGTH_MISMATCH));
            assertEquals(0, receiver.accepted());
            assertTrue(sink.rows.isEmpty() && sink.completed.isEmpty() && sink.failed.isEmpty());

            sendWholeTransfer(raw, frame, 3);
            RecordingSink.pollUntil(receiver, () -> !sink.completed.isEmpty());
            assertEquals(LAYERS, sink.rows.size());
            assertEquals(14, receiver.rejected());
        }
    }

    @Test
    void shouldFailATransferWhoseLastMessageComesBeforeEveryLayer()
    {
        final RecordingSink sink = new RecordingSink(KV_DIM, Float.BYTES);
        try (KvTransferReceiver receiver = smallReceiver(sink);
            KvTransferSender sender = smallSender())
        {
            final HostKvRows rows = zeroRows(2);
            sender.sendLayer(0, TRANSFER, 0, LAYERS, 0, 2, rows);
            sender.sendComplete(0, TRANSFER, LAYERS, 2, 9);
            RecordingSink.pollUntil(receiver, () -> !sink.failed.isEmpty());

            assertEquals(List.of(TRANSFER + ": received 2 rows up to position 2, expected 2 layers x 2 positions"),
                sink.failed);
            assertTrue(sink.completed.isEmpty());
            assertEquals(1, receiver.count(KvFrameCheck.INCOMPLETE_TRANSFER));
        }
    }

    @Test
    void shouldDropTheRestOfATransferThatTheSinkRefused()
    {
        final RecordingSink sink = new RecordingSink(KV_DIM, Float.BYTES)
        {
            @Override
            public void layerArrived(
                final long transferId, final int layer, final int firstPosition, final int count,
                final MemorySegment rows, final long offset)
            {
                throw new TandemException("KV transfer " + transferId + " has no blocks reserved on this machine");
            }
        };
        try (KvTransferReceiver receiver = smallReceiver(sink);
            KvTransferSender sender = smallSender())
        {
            final HostKvRows rows = zeroRows(2);
            for (int layer = 0; layer < LAYERS; layer++)
            {
                sender.sendLayer(0, TRANSFER, layer, LAYERS, 0, 2, rows);
            }
            sender.sendComplete(0, TRANSFER, LAYERS, 2, 9);
            RecordingSink.pollUntil(receiver, () -> !sink.failed.isEmpty());

            assertEquals(List.of(TRANSFER + ": the token machine refused its rows"), sink.failed);
            assertEquals(3, receiver.count(KvFrameCheck.REFUSED_BY_SINK));
            assertEquals(0, receiver.transfersInProgress());
        }
    }

    @Test
    void shouldNameTheDestinationWhenNoReceiverTakesTheRows()
    {
        final TransportConfig config = TransportConfig.defaults().withTimeouts(
            TimeUnit.MILLISECONDS.toNanos(200), TimeUnit.SECONDS.toNanos(1), TimeUnit.SECONDS.toNanos(1));
        try (KvTransferSender sender = new KvTransferSender(node.aeron(), config, List.of(CHANNEL), STREAM + 1, KV_DIM,
            Dtype.FP32, MAX_TOKENS))
        {
            final HostKvRows rows = zeroRows(1);
            final TandemException ex = assertThrows(TandemException.class,
                () -> sender.sendLayer(0, TRANSFER, 0, LAYERS, 0, 1, rows));
            assertTrue(ex.getMessage().startsWith("KV destination 0 (aeron:ipc stream 3002): no receiver for "),
                ex.getMessage());
        }
    }

    private KvTransferReceiver smallReceiver(final KvSink sink)
    {
        return new KvTransferReceiver(node.aeron(), CHANNEL, STREAM, LAYERS, KV_DIM, Dtype.FP32, MAX_TOKENS, sink);
    }

    private KvTransferSender smallSender()
    {
        return new KvTransferSender(node.aeron(), TransportConfig.defaults(), List.of(CHANNEL), STREAM, KV_DIM,
            Dtype.FP32, MAX_TOKENS).awaitConnected(CONNECT_TIMEOUT_NS);
    }

    private static HostKvRows zeroRows(final int tokens)
    {
        return HostKvRows.fp32(new float[tokens * KV_DIM], new float[tokens * KV_DIM], KV_DIM);
    }

    /** A valid frame of {@code tokens} rows of layer 0 at the buffer's start; returns its length. */
    private static int validFrame(final UnsafeBuffer frame, final int tokens)
    {
        new KvLayerFlyweight().wrap(frame, 0)
            .writeHeader(TRANSFER, 0, LAYERS, 0, tokens, KV_DIM, Dtype.FP32, (byte)0, 0);
        return (int)KvLayerFlyweight.frameLength(tokens, KV_DIM, Dtype.FP32);
    }

    private static void hostile(final ExclusivePublication raw, final UnsafeBuffer frame, final Consumer<UnsafeBuffer> edit)
    {
        final int length = validFrame(frame, 2);
        edit.accept(frame);
        offer(raw, frame, length);
    }

    private static void sendWholeTransfer(final ExclusivePublication raw, final UnsafeBuffer frame, final int firstToken)
    {
        for (int layer = 0; layer < LAYERS; layer++)
        {
            final int length = validFrame(frame, 2);
            frame.putInt(KvLayerFlyweight.LAYER_FIELD_OFFSET, layer, LITTLE_ENDIAN);
            offer(raw, frame, length);
        }
        new KvLayerFlyweight().wrap(frame, 0)
            .writeHeader(TRANSFER, LAYERS - 1, LAYERS, 2, 0, KV_DIM, Dtype.FP32, KvLayerFlyweight.FLAG_LAST, firstToken);
        offer(raw, frame, KvLayerFlyweight.HEADER_LENGTH);
    }

    private static void offer(final ExclusivePublication raw, final UnsafeBuffer frame, final int length)
    {
        final long deadlineNs = System.nanoTime() + CONNECT_TIMEOUT_NS;
        while (raw.offer(frame, 0, length) < 0)
        {
            assertTrue(System.nanoTime() - deadlineNs < 0, "offer timed out");
            Thread.onSpinWait();
        }
    }

    private static void awaitConnected(final ExclusivePublication publication)
    {
        final long deadlineNs = System.nanoTime() + CONNECT_TIMEOUT_NS;
        while (!publication.isConnected())
        {
            assertTrue(System.nanoTime() - deadlineNs < 0, "not connected");
            Thread.onSpinWait();
        }
    }

    private static float[] randomRows(final SplittableRandom random, final int n)
    {
        final float[] rows = new float[n];
        for (int i = 0; i < n; i++)
        {
            rows[i] = (float)random.nextGaussian();
        }
        return rows;
    }

    private static float[] slice(final float[] a, final int from, final int n)
    {
        return Arrays.copyOfRange(a, from, from + n);
    }
}
