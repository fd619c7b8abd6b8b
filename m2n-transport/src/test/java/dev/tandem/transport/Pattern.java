package dev.tandem.transport;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.util.SplittableRandom;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * Deterministic test data: both ends of an exchange derive the token counts and every byte of
 * (step, micro-batch, sender, receiver) from the seed, so a receiver can check what it got.
 */
final class Pattern
{
    static final byte RESULT_MASK = 0x5A; // receivers answer each input byte XOR this

    private Pattern()
    {
    }

    static long mix(final long seed, final long step, final int microBatch, final int sender, final int receiver)
    {
        long h = seed;
        h = h * 0x9E3779B97F4A7C15L + step;
        h = h * 0x9E3779B97F4A7C15L + microBatch;
        h = h * 0x9E3779B97F4A7C15L + sender;
        h = h * 0x9E3779B97F4A7C15L + receiver;
        return h ^ (h >>> 31);
    }

    /** Tokens that sender sends receiver: 0..max, zero about one time in five. */
    static int tokens(final long seed, final long step, final int microBatch, final int sender, final int receiver,
        final int max)
    {
        final SplittableRandom random = new SplittableRandom(mix(seed, step, microBatch, sender, receiver));
        return random.nextInt(5) == 0 ? 0 : random.nextInt(max + 1);
    }

    /** Fill rows [start, start + count) of {@code batch} and their routing for (sender -> receiver). */
    static void fill(final RowBatch batch, final int start, final int count, final long key)
    {
        final SplittableRandom random = new SplittableRandom(key);
        final MutableDirectBuffer activations = batch.activations();
        final int from = batch.activationOffset(start);
        final int length = count * batch.rowBytes();
        for (int i = 0; i < length; i += 8)
        {
            final long value = random.nextLong();
            if (i + 8 <= length)
            {
                activations.putLong(from + i, value, LITTLE_ENDIAN);
            }
            else
            {
                for (int b = i; b < length; b++)
                {
                    activations.putByte(from + b, (byte)(value >>> (8 * (b - i))));
                }
            }
        }
        for (int row = 0; row < count; row++)
        {
            final int offset = RowBatch.routingOffset(start + row);
            batch.routing().putInt(offset + FrameFlyweight.SLOT_FIELD_OFFSET, start + row, LITTLE_ENDIAN);
            batch.routing().putInt(offset + FrameFlyweight.EXPERT_FIELD_OFFSET, (int)(key >>> 40) + row, LITTLE_ENDIAN);
            batch.routing().putFloat(offset + FrameFlyweight.GATE_FIELD_OFFSET, (row + 1) / 7.0f, LITTLE_ENDIAN);
        }
    }

    /**
     * @return null if rows [start, start + count) of {@code actual} equal what {@link #fill} wrote at
     *         {@code expectedStart} with this key, byte XOR {@code mask}; else what differs.
     */
    static String check(final RowBatch actual, final int start, final int count, final long key, final byte mask,
        final RowBatch scratch, final int expectedStart)
    {
        fill(scratch, expectedStart, count, key);
        final int length = count * actual.rowBytes();
        final DirectBuffer a = actual.activations();
        final DirectBuffer e = scratch.activations();
        final int aFrom = actual.activationOffset(start);
        final int eFrom = scratch.activationOffset(expectedStart);
        for (int i = 0; i < length; i++)
        {
            if (a.getByte(aFrom + i) != (byte)(e.getByte(eFrom + i) ^ mask))
            {
                return "activation byte " + i + " of rows [" + start + ", +" + count + ")";
            }
        }
        for (int i = 0; i < count * FrameFlyweight.ROUTING_ENTRY_LENGTH; i++)
        {
            if (actual.routing().getByte(RowBatch.routingOffset(start) + i) !=
                scratch.routing().getByte(RowBatch.routingOffset(expectedStart) + i))
            {
                return "routing byte " + i + " of rows [" + start + ", +" + count + ")";
            }
        }
        return null;
    }

    /** XOR rows [0, batch.rowCount()) with {@link #RESULT_MASK}: the stand-in for the experts' FFN. */
    static void transform(final RowBatch batch)
    {
        final MutableDirectBuffer activations = batch.activations();
        final int length = batch.rowCount() * batch.rowBytes();
        for (int i = 0; i < length; i++)
        {
            activations.putByte(i, (byte)(activations.getByte(i) ^ RESULT_MASK));
        }
    }
}
