package dev.tandem.transport.kv;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Keeps what a receiver delivered, copying the reused row arrays. */
class RecordingSink implements KvSink
{
    record Rows(long transferId, int layer, int firstPosition, int count, float[] keys, float[] values)
    {
    }

    final List<Rows> rows = new ArrayList<>();
    final List<long[]> completed = new ArrayList<>(); // (transfer id, first token)
    final List<String> failed = new ArrayList<>();

    @Override
    public void layerArrived(
        final long transferId, final int layer, final int firstPosition, final int count, final float[] keys,
        final float[] values)
    {
        rows.add(new Rows(transferId, layer, firstPosition, count, Arrays.copyOf(keys, keys.length),
            Arrays.copyOf(values, values.length)));
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
