package dev.tandem.transport.kv;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.engine.KvRowSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A run of KV rows held in host memory, fp32 or bf16, standing in for a cache on the sending side. */
final class HostKvRows implements KvRowSource
{
    private final MemorySegment keys;   // (rows, kvDim)
    private final MemorySegment values; // (rows, kvDim)
    private final int elementBytes;
    private final long rowBytes;

    private HostKvRows(final MemorySegment keys, final MemorySegment values, final int kvDim, final int elementBytes)
    {
        this.keys = keys;
        this.values = values;
        this.elementBytes = elementBytes;
        this.rowBytes = (long)kvDim * elementBytes;
    }

    static HostKvRows fp32(final float[] keys, final float[] values, final int kvDim)
    {
        return new HostKvRows(Arena.ofAuto().allocateFrom(ValueLayout.JAVA_FLOAT, keys),
            Arena.ofAuto().allocateFrom(ValueLayout.JAVA_FLOAT, values), kvDim, Float.BYTES);
    }

    /** bf16 as its bit patterns. */
    static HostKvRows bf16(final short[] keys, final short[] values, final int kvDim)
    {
        return new HostKvRows(Arena.ofAuto().allocateFrom(ValueLayout.JAVA_SHORT, keys),
            Arena.ofAuto().allocateFrom(ValueLayout.JAVA_SHORT, values), kvDim, Short.BYTES);
    }

    /** Rows {@code [layer · tokens, (layer + 1) · tokens)} as a run of their own. */
    HostKvRows layer(final int layer, final int tokens, final int kvDim)
    {
        final long bytes = (long)tokens * rowBytes;
        return new HostKvRows(keys.asSlice(layer * bytes, bytes), values.asSlice(layer * bytes, bytes), kvDim,
            elementBytes);
    }

    /** The same rows, whose gathers write them into {@code device} (a fake device's memory) as a device's gather kernel would. */
    KvRowSource gatheringInto(final MemorySegment device)
    {
        return new KvRowSource()
        {
            @Override
            public int elementBytes()
            {
                return elementBytes;
            }

            @Override
            public void copyTo(final int from, final int count, final MemorySegment dst, final long offset)
            {
                HostKvRows.this.copyTo(from, count, dst, offset);
            }

            @Override
            public void gatherTo(final int from, final int count, final Activations dst)
            {
                HostKvRows.this.copyTo(from, count, device, 0);
            }
        };
    }

    @Override
    public int elementBytes()
    {
        return elementBytes;
    }

    @Override
    public void copyTo(final int from, final int count, final MemorySegment dst, final long offset)
    {
        MemorySegment.copy(keys, from * rowBytes, dst, offset, count * rowBytes);
        MemorySegment.copy(values, from * rowBytes, dst, offset + count * rowBytes, count * rowBytes);
    }
}
