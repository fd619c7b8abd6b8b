package dev.tandem.transport;

import dev.tandem.core.compute.Bf16;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * Between the float32 rows a node computes on and the bf16 rows it sends ({@code wire_dtype =
 * bf16}, half the bytes): {@link #narrow} rounds to nearest even, as torch does, and
 * {@link #widen} is exact. Both carry the per-peer layout and the routing entries across, and run
 * a vector of elements at a time (a batch of decode rows is a million elements, a millisecond
 * one at a time).
 */
public final class WireRows
{
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SHORTS = VectorSpecies.of(short.class, VectorShape.forBitSize(INTS.vectorBitSize() / 2));
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LITTLE_ENDIAN);

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

    /**
     * Only {@code from}'s per-peer layout and routing entries into {@code to}, for a device that
     * converts the activations itself ({@code ComputeBackend.copyRowsToBf16} and back).
     */
    public static void carryLayout(final RowBatch from, final RowBatch to)
    {
        to.copyLayoutFrom(from);
        for (int p = 0; p < from.peerCount(); p++)
        {
            copyRouting(from, to, from.peerRowStart(p), from.peerRowCount(p));
        }
    }

    private static void convert(final RowBatch from, final RowBatch to, final boolean narrow)
    {
        to.copyLayoutFrom(from);
        final MemorySegment src = from.activationMemory();
        final MemorySegment dst = to.activationMemory();
        final int hidden = from.hiddenSize();
        for (int p = 0; p < from.peerCount(); p++)
        {
            final int start = from.peerRowStart(p);
            final int count = from.peerRowCount(p);
            copyRouting(from, to, start, count);
            final long first = (long)start * hidden;
            final long end = first + (long)count * hidden;
            if (narrow)
            {
                narrow(src, dst, first, end);
            }
            else
            {
                widen(src, dst, first, end);
            }
        }
    }

    /** Elements [first, end): float32 at 4·i in src to bf16 at 2·i in dst, eight or more at a time. */
    private static void narrow(final MemorySegment src, final MemorySegment dst, final long first, final long end)
    {
        long i = first;
        for (final long bound = first + INTS.loopBound(end - first); i < bound; i += INTS.length())
        {
            final IntVector bits = IntVector.fromMemorySegment(INTS, src, 4 * i, LITTLE_ENDIAN);
            final IntVector rounded = bits.add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7fff)
                .lanewise(VectorOperators.LSHR, 16);
            final VectorMask<Integer> nan = bits.and(0x7fff_ffff).compare(VectorOperators.GT, 0x7f80_0000);
            final IntVector quiet = bits.lanewise(VectorOperators.LSHR, 16).or(0x40);
            rounded.blend(quiet, nan).convertShape(VectorOperators.I2S, SHORTS, 0)
                .reinterpretAsShorts().intoMemorySegment(dst, 2 * i, LITTLE_ENDIAN);
        }
        for (; i < end; i++)
        {
            dst.set(BF16, 2 * i, toBf16(src.get(FLOAT, 4 * i)));
        }
    }

    /** Elements [first, end): bf16 at 2·i in src to float32 at 4·i in dst (exact). */
    private static void widen(final MemorySegment src, final MemorySegment dst, final long first, final long end)
    {
        long i = first;
        for (final long bound = first + INTS.loopBound(end - first); i < bound; i += INTS.length())
        {
            ((IntVector)ShortVector.fromMemorySegment(SHORTS, src, 2 * i, LITTLE_ENDIAN)
                .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 16)
                .intoMemorySegment(dst, 4 * i, LITTLE_ENDIAN);
        }
        for (; i < end; i++)
        {
            dst.set(FLOAT, 4 * i, Bf16.toFloat(src.get(BF16, 2 * i)));
        }
    }

    /** Round to nearest even; NaN stays NaN (quiet). */
    static short toBf16(final float value)
    {
        return Bf16.fromFloat(value);
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
