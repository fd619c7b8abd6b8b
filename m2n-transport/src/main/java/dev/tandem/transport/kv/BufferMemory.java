package dev.tandem.transport.kv;

import org.agrona.DirectBuffer;

import java.lang.foreign.MemorySegment;

/**
 * An Agrona buffer's bytes as a {@link MemorySegment}, for the backends' KV row copies, made once per
 * buffer rather than once per frame: a receiver reads frames from a few buffers over and over (its
 * images' terms, the reassembly buffers), so a handful of entries, replaced round-robin, keeps the
 * hot path allocation-free.
 */
final class BufferMemory
{
    private static final int ENTRIES = 8;

    private final long[] addresses = new long[ENTRIES];
    private final int[] capacities = new int[ENTRIES];
    private final byte[][] arrays = new byte[ENTRIES][];
    private final MemorySegment[] segments = new MemorySegment[ENTRIES];
    private int next;

    /** @return all of {@code buffer}'s bytes (from its {@code 0}): off-heap memory or an array's. */
    MemorySegment of(final DirectBuffer buffer)
    {
        final long address = buffer.addressOffset();
        final int capacity = buffer.capacity();
        final byte[] array = buffer.byteArray();
        for (int i = 0; i < ENTRIES; i++)
        {
            if (segments[i] != null && addresses[i] == address && capacities[i] == capacity && arrays[i] == array)
            {
                return segments[i];
            }
        }
        final MemorySegment segment = array != null ?
            MemorySegment.ofArray(array).asSlice(buffer.wrapAdjustment(), capacity) :
            MemorySegment.ofAddress(address).reinterpret(capacity);
        final int i = next;
        next = (next + 1) % ENTRIES;
        addresses[i] = address;
        capacities[i] = capacity;
        arrays[i] = array;
        segments[i] = segment;
        return segment;
    }
}
