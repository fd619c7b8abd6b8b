package dev.tandem.transport.kv;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Keeps what a receiver delivered, copying the rows out of the frame that Aeron reuses. */
class RecordingSink implements KvSink
{
    /** One delivery: its keys then values, (2, count, kvDim), as the frame carried them. */
    record Rows(long transferId, int layer, int firstPosition, int count, MemorySegment rows)
    {
        /** Keys (half 0) or values (half 1) as float32, for an fp32 receiver. */
        float[] floats(final int half)
        {
            final long bytes = rows.byteSize() / 2;
            return rows.asSlice(half * bytes, bytes).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    final List<Rows> rows = new ArrayList<>();
    final List<long[]> completed = new ArrayList<>(); // (transfer id, first token)
    final List<String> failed = new ArrayList<>();
    private final int rowBytes; // keys or values of one position, in the receiver's dtype

    RecordingSink(final int kvDim, final int elementBytes)
    {
        this.rowBytes = kvDim * elementBytes;
    }

    @Override
    public void layerArrived(
        final long transferId, final int layer, final int firstPosition, final int count, final MemorySegment frame,
        final long offset)
    {
        final long bytes = 2L * count * rowBytes;
        final MemorySegment copy = Arena.ofAuto().allocate(bytes, 8);
        MemorySegment.copy(frame, offset, copy, 0, bytes);
        rows.add(new Rows(transferId, layer, firstPosition, count, copy));
    }

    @Override
    public void transferComplete(final long transferId, final int firstToken)
    {
        completed.add(new long[]{transferId, firstToken});
    }

    @Override
    public void transferFailed(final long transferId, final String reason)
    {
        failed.add(transferId + ": " + reason);
    }

    /** Poll until {@code done}, at most 10 s. */
    static void pollUntil(final KvTransferReceiver receiver, final BooleanSupplier done)
    {
        final long deadlineNs = System.nanoTime() + 10_000_000_000L;
        while (!done.getAsBoolean())
        {
            if (receiver.poll(16) == 0)
            {
                if (System.nanoTime() - deadlineNs > 0)
                {
                    throw new AssertionError("not done within 10 s; receiver counts: accepted " + receiver.accepted() +
                        ", rejected " + receiver.rejected());
                }
                Thread.onSpinWait();
            }
        }
    }
}
