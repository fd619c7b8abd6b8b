package dev.tandem.transport;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Between the float32 rows a node computes on and the bf16 rows it sends ({@code wire_dtype =
 * bf16}, half the bytes): {@link #narrow} rounds to nearest even, as torch does, and
 * {@link #widen} is exact. Both carry the per-peer layout and the routing entries across.
 */
public final class WireRows
{
    private WireRows()
    {
    }

    /** {@code to} (bf16) = {@code from} (float32) rounded, for every peer's rows. */
    public static void narrow(final RowBatch from, final RowBatch to)
    {
        check(from, Dtype.FP32, to, Dtype.BF16);
        convert(from, to, true);
    }

    /** {@code to} (float32) = {@code from} (bf16), for every peer's rows. */
    public static void widen(final RowBatch from, final RowBatch to)
    {
        check(from, Dtype.BF16, to, Dtype.FP32);
        convert(from, to, false);
    }

    private static void convert(final RowBatch from, final RowBatch to, final boolean narrow)
    {
        to.copyLayoutFrom(from);
        final UnsafeBuffer src = from.activations();
        final UnsafeBuffer dst = to.activations();
        final int hidden = from.hiddenSize();
        for (int p = 0; p < from.peerCount(); p++)
        {
            final int start = from.peerRowStart(p);
            final int count = from.peerRowCount(p);
            copyRouting(from, to, start, count);
            final long first = (long)start * hidden;
            final long end = first + (long)count * hidden;
            for (long i = first; i < end; i++)  // the branch does not change inside the loop: the JIT hoists it
            {
                if (narrow)
                {
                    dst.putShort((int)(2 * i), toBf16(src.getFloat((int)(4 * i))));
                }
                else
                {
                    dst.putFloat((int)(4 * i), Float.intBitsToFloat((src.getShort((int)(2 * i)) & 0xffff) << 16));
                }
            }
        }
    }

    /** Round to nearest even; NaN stays NaN (quiet). */
    static short toBf16(final float value)
    {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fff_ffff) > 0x7f80_0000)
        {
            return (short)((bits >>> 16) | 0x40);
        }
        bits += 0x7fff + ((bits >>> 16) & 1);
        return (short)(bits >>> 16);
    }

    private static void copyRouting(final RowBatch from, final RowBatch to, final int start, final int count)
    {
        to.routing().putBytes(RowBatch.routingOffset(start), from.routing(), RowBatch.routingOffset(start),
            count * FrameFlyweight.ROUTING_ENTRY_LENGTH);
    }

    private static void check(final RowBatch from, final Dtype fromType, final RowBatch to, final Dtype toType)
    {
        if (from.dtype() != fromType || to.dtype() != toType || from.hiddenSize() != to.hiddenSize() ||
            from.peerCount() != to.peerCount() || to.capacityRows() < from.rowCount())
        {
            throw new IllegalArgumentException("wire rows: " + fromType + " (" + from.dtype() + ", " +
                from.hiddenSize() + " wide, " + from.peerCount() + " peers) to " + toType + " (" + to.dtype() + ", " +
                to.hiddenSize() + " wide, " + to.peerCount() + " peers, " + to.capacityRows() + " rows)");
        }
    }
}
