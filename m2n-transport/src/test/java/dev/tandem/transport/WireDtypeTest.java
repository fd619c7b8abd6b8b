package dev.tandem.transport;

import org.junit.jupiter.api.Test;

import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bf16 on the wire: rows rounded to nearest even on the way out and widened exactly on the way
 * back, layout and routing carried across; frames of another dtype than the receiver's are
 * refused, and the receive that waited for them says why.
 */
class WireDtypeTest
{
    @Test
    void shouldRoundToNearestEvenAsTorchDoes()
    {
        assertEquals((short)0x3F80, WireRows.toBf16(1.0f));
        assertEquals((short)0x3F80, WireRows.toBf16(1.00390625f));   // 1 + 2^-8: halfway, to the even 0x3F80
        assertEquals((short)0x3F82, WireRows.toBf16(1.01171875f));   // 1 + 3·2^-8: halfway, to the even 0x3F82
        assertEquals((short)0x3F81, WireRows.toBf16(1.005f));        // above halfway: up
        assertEquals((short)0xC020, WireRows.toBf16(-2.5f));
        assertEquals((short)0x7F80, WireRows.toBf16(Float.POSITIVE_INFINITY));
        assertTrue((WireRows.toBf16(Float.NaN) & 0x7FFF) > 0x7F80, "NaN stays NaN");
    }

    @Test
    void shouldNarrowAndWidenEveryPeersRowsWithTheirRouting()
    {
        final int hidden = 3;
        final RowBatch f32 = new RowBatch(2, 8, hidden, Dtype.FP32);
        f32.peerRows(0, 0, 2).peerRows(1, 5, 1).rowCount(3);   // a gap between the peers' rows
        final float[][] values = {{1.0f, 1.00390625f, -2.5f}, {1.005f, 3.0e-3f, 65504f}};
        final int[] rows = {0, 1, 5};
        for (int k = 0; k < rows.length; k++)
        {
            for (int c = 0; c < hidden; c++)
            {
                f32.activations().putFloat(f32.activationOffset(rows[k]) + 4 * c, values[k % 2][c] * (k + 1),
                    ByteOrder.LITTLE_ENDIAN);
            }
            f32.routing().putInt(RowBatch.routingOffset(rows[k]) + FrameFlyweight.EXPERT_FIELD_OFFSET, 10 + k,
                ByteOrder.LITTLE_ENDIAN);
        }
        final RowBatch bf16 = new RowBatch(2, 8, hidden, Dtype.BF16);
        WireRows.narrow(f32, bf16);
        final RowBatch back = new RowBatch(2, 8, hidden, Dtype.FP32);
        WireRows.widen(bf16, back);
        assertEquals(5, back.peerRowStart(1));
        assertEquals(1, back.peerRowCount(1));
        for (int k = 0; k < rows.length; k++)
        {
            for (int c = 0; c < hidden; c++)
            {
                final float sent = values[k % 2][c] * (k + 1);
                final float expected = Float.intBitsToFloat((WireRows.toBf16(sent) & 0xFFFF) << 16);
                assertEquals(expected, back.activations().getFloat(back.activationOffset(rows[k]) + 4 * c,
                    ByteOrder.LITTLE_ENDIAN), "row " + rows[k] + " column " + c);
                assertTrue(Math.abs(expected - sent) <= Math.abs(sent) / 256, "within half a bf16 step");
            }
            assertEquals(10 + k, back.routing().getInt(RowBatch.routingOffset(rows[k]) +
                FrameFlyweight.EXPERT_FIELD_OFFSET, ByteOrder.LITTLE_ENDIAN));
        }
    }

    /** Rows wider than a vector, odd widths: the vector lanes and the tail agree bit for bit with the rounding above. */
    @Test
    void shouldRoundEveryBitPatternAsTheScalarRuleDoesAVectorAtATime()
    {
        final int hidden = 4096 + 37;
        final int rows = 5;
        final float[] specials = {Float.NaN, Float.intBitsToFloat(0x7f80_0001), Float.intBitsToFloat(0xffc0_1234),
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, Float.MIN_VALUE, Float.MAX_VALUE,
            1.00390625f, 1.01171875f, -1.00390625f, Float.intBitsToFloat(0x7f7f_ffff), Float.intBitsToFloat(0x0000_8000)};
        final RowBatch f32 = new RowBatch(1, rows, hidden, Dtype.FP32);
        f32.peerRows(0, 0, rows).rowCount(rows);
        final java.util.SplittableRandom random = new java.util.SplittableRandom(11);
        final int[] sent = new int[rows * hidden];
        for (int i = 0; i < sent.length; i++)
        {
            sent[i] = i % 97 < specials.length ? Float.floatToRawIntBits(specials[i % 97]) : random.nextInt();
            f32.activations().putInt(4 * i, sent[i], ByteOrder.LITTLE_ENDIAN);
        }
        final RowBatch bf16 = new RowBatch(1, rows, hidden, Dtype.BF16);
        WireRows.narrow(f32, bf16);
        final RowBatch back = new RowBatch(1, rows, hidden, Dtype.FP32);
        WireRows.widen(bf16, back);
        for (int i = 0; i < sent.length; i++)
        {
            final short expected = WireRows.toBf16(Float.intBitsToFloat(sent[i]));
            assertEquals(expected, bf16.activations().getShort(2 * i, ByteOrder.LITTLE_ENDIAN),
                "element " + i + " = 0x" + Integer.toHexString(sent[i]));
            assertEquals((expected & 0xFFFF) << 16, back.activations().getInt(4 * i, ByteOrder.LITTLE_ENDIAN),
                "element " + i + " widened");
        }
    }

    /** For a device that converts the activations itself: the layout and routing only. */
    @Test
    void shouldCarryTheLayoutAndRoutingAloneLeavingTheActivations()
    {
        final RowBatch from = new RowBatch(2, 8, 4, Dtype.FP32);
        from.peerRows(0, 0, 2).peerRows(1, 5, 1).rowCount(3);
        from.routing().putInt(RowBatch.routingOffset(5) + FrameFlyweight.EXPERT_FIELD_OFFSET, 7, ByteOrder.LITTLE_ENDIAN);
        from.activations().putFloat(0, 3f, ByteOrder.LITTLE_ENDIAN);
        final RowBatch to = new RowBatch(2, 8, 4, Dtype.BF16);
        to.activations().putShort(0, (short)0x1234, ByteOrder.LITTLE_ENDIAN);

        WireRows.carryLayout(from, to);

        assertEquals(3, to.rowCount());
        assertEquals(5, to.peerRowStart(1));
        assertEquals(1, to.peerRowCount(1));
        assertEquals(7, to.routing().getInt(RowBatch.routingOffset(5) + FrameFlyweight.EXPERT_FIELD_OFFSET,
            ByteOrder.LITTLE_ENDIAN));
        assertEquals((short)0x1234, to.activations().getShort(0, ByteOrder.LITTLE_ENDIAN));
    }

    @Test
    void shouldRefuseFramesOfAnotherDtypeAndSayWhyTheReceiveTimedOut() throws Exception
    {
        final M2nContext ctx = new M2nContext().hiddenSize(8).dtype(Dtype.FP32).maxTokensPerPeer(4).epoch(3)
            .config(TransportConfig.defaults().withTimeouts(TimeUnit.SECONDS.toNanos(10), TimeUnit.SECONDS.toNanos(10),
                TimeUnit.MILLISECONDS.toNanos(300)));
        try (LocalM2n harness = new LocalM2n(LocalM2n.Kind.IN_PROCESS, 1, 1, ctx))
        {
            final RowBatch bf16 = new RowBatch(1, 4, 8, Dtype.BF16).layoutContiguous(new int[] {2});
            harness.sender(0).send(0, 0, 0, bf16);                    // a sender configured for bf16
            final M2nReceiver receiver = harness.receiver(0);
            final PeerLostException e = assertThrows(PeerLostException.class,
                () -> receiver.receive(0, 0, 0, new RowBatch(1, 4, 8, Dtype.FP32)));
            assertTrue(e.getMessage().contains("BAD_DTYPE=1"), e.getMessage());
            assertEquals(1, receiver.counters().get(FrameCheck.BAD_DTYPE));
            final IllegalArgumentException wrongBatch = assertThrows(IllegalArgumentException.class,
                () -> receiver.receive(1, 0, 0, new RowBatch(1, 4, 8, Dtype.BF16)));
            assertTrue(wrongBatch.getMessage().contains("the wire carries FP32"), wrongBatch.getMessage());
        }
    }
}
