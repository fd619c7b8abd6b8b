package dev.tandem.transport.kv;

import dev.tandem.transport.Dtype;
import io.aeron.Aeron;
import io.aeron.FragmentAssembler;
import io.aeron.Subscription;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import org.agrona.CloseHelper;
import org.agrona.DirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The token machine's end of Splitwise's KV transfer: one Subscription that any number of prompt
 * machines publish to. {@link #poll} is an Agent-style duty cycle: it never blocks, reassembles
 * messages that Aeron fragmented, checks every field, and hands the rows to the {@link KvSink}.
 * Bad frames are counted per {@link KvFrameCheck} and dropped. A transfer is complete when its
 * last message arrives and its rows add up to every layer of every position it announced.
 * One caller thread (the token node's stepping thread, between steps).
 */
public final class KvTransferReceiver implements AutoCloseable
{
    private static final KvFrameCheck[] CHECKS = KvFrameCheck.values();
    private static final long NONE = Long.MIN_VALUE; // the maps' missing value
    private static final long REFUSED = -1;          // rows entry of a transfer the sink refused

    private final KvLayerFlyweight frame = new KvLayerFlyweight();
    private final AtomicLongArray counts = new AtomicLongArray(CHECKS.length);
    private final Long2LongHashMap rowsByTransfer = new Long2LongHashMap(NONE); // Σ over layers of rows received
    private final Long2LongHashMap endByTransfer = new Long2LongHashMap(NONE);  // largest position + 1 received
    private final Subscription subscription;
    private final FragmentHandler assembler;
    private final KvSink sink;
    private final int layers;
    private final int kvDim;
    private final int maxTokensPerMessage;
    private final float[] keys;   // (maxTokensPerMessage, kvDim)
    private final float[] values; // (maxTokensPerMessage, kvDim)

    /**
     * @param channel             {@code aeron:ipc}, or {@code aeron:udp?endpoint=host:port} of this machine
     * @param layers              the model's layers; frames announcing others are dropped
     * @param kvDim               kvHeads · headDim of the model
     * @param maxTokensPerMessage the senders' {@link KvTransferSender#maxTokensPerMessage()} or more
     */
    public KvTransferReceiver(
        final Aeron aeron, final String channel, final int streamId, final int layers, final int kvDim,
        final int maxTokensPerMessage, final KvSink sink)
    {
        this.sink = sink;
        this.layers = layers;
        this.kvDim = kvDim;
        this.maxTokensPerMessage = maxTokensPerMessage;
        this.keys = new float[maxTokensPerMessage * kvDim];
        this.values = new float[maxTokensPerMessage * kvDim];
        final int maxFrame = (int)Math.min(KvTransferSender.MAX_AERON_MESSAGE,
            KvLayerFlyweight.frameLength(maxTokensPerMessage, kvDim, Dtype.FP32));
        this.assembler = new FragmentAssembler(this::onMessage, maxFrame, true);
        this.subscription = aeron.addSubscription(channel, streamId);
    }

    /** @return fragments read; 0 when there was nothing to do. */
    public int poll(final int fragmentLimit)
    {
        return subscription.poll(assembler, fragmentLimit);
    }

    /** @return true once some sender's image is connected. */
    public boolean isConnected()
    {
        return subscription.isConnected();
    }

    /** @return frames with this outcome so far; any thread may read. */
    public long count(final KvFrameCheck check)
    {
        return counts.get(check.ordinal());
    }

    public long accepted()
    {
        return counts.get(KvFrameCheck.VALID.ordinal());
    }

    /** @return frames dropped so far, all reasons together. */
    public long rejected()
    {
        long total = 0;
        for (int i = 1; i < CHECKS.length; i++)
        {
            total += counts.get(i);
        }
        return total;
    }

    /** Transfers with rows received and no last message yet. */
    public int transfersInProgress()
    {
        return rowsByTransfer.size();
    }

    /** Drops what is known of a transfer given up on (its prompt machine died, the request was cancelled). */
    public void forget(final long transferId)
    {
        rowsByTransfer.remove(transferId);
        endByTransfer.remove(transferId);
    }

    private void onMessage(final DirectBuffer buffer, final int offset, final int length, final Header header)
    {
        final KvFrameCheck check = frame.wrap(buffer, offset).check(length, layers, kvDim, maxTokensPerMessage);
        if (check != KvFrameCheck.VALID)
        {
            counts.getAndIncrement(check.ordinal());
            return;
        }
        final long transferId = frame.transferId();
        if (frame.isLast())
        {
            complete(transferId, frame.firstPosition(), frame.firstToken());
            return;
        }
        final long received = orZero(rowsByTransfer.get(transferId));
        if (received == REFUSED)
        {
            counts.getAndIncrement(KvFrameCheck.REFUSED_BY_SINK.ordinal());
            return;
        }
        final int count = frame.tokenCount();
        final int first = frame.firstPosition();
        frame.getRows(KvLayerFlyweight.KEYS_OFFSET, keys, count, kvDim);
        frame.getRows(KvLayerFlyweight.valuesOffset(count, kvDim, Dtype.FP32), values, count,
            kvDim);
        try
        {
            sink.layerArrived(transferId, frame.layer(), first, count, keys, values);
        }
        catch (final RuntimeException ex)
        {
            counts.getAndIncrement(KvFrameCheck.REFUSED_BY_SINK.ordinal());
            rowsByTransfer.put(transferId, REFUSED);
            endByTransfer.remove(transferId);
            return;
        }
        counts.getAndIncrement(KvFrameCheck.VALID.ordinal());
        rowsByTransfer.put(transferId, received + count);
        endByTransfer.put(transferId, Math.max(orZero(endByTransfer.get(transferId)), (long)first + count));
    }

    private void complete(final long transferId, final int positions, final int firstToken)
    {
        final long received = orZero(rowsByTransfer.remove(transferId));
        final long end = orZero(endByTransfer.remove(transferId));
        if (received == REFUSED)
        {
            counts.getAndIncrement(KvFrameCheck.REFUSED_BY_SINK.ordinal());
            sink.transferFailed(transferId, "the token machine refused its rows");
        }
        else if (received != (long)layers * positions || end != positions)
        {
            counts.getAndIncrement(KvFrameCheck.INCOMPLETE_TRANSFER.ordinal());
            sink.transferFailed(transferId, "received " + received + " rows up to position " + end + ", expected " +
                layers + " layers x " + positions + " positions");
        }
        else
        {
            counts.getAndIncrement(KvFrameCheck.VALID.ordinal());
            sink.transferComplete(transferId, firstToken);
        }
    }

    private static long orZero(final long value)
    {
        return value == NONE ? 0 : value;
    }

    @Override
    public void close()
    {
        CloseHelper.close(subscription);
    }
}
