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
import org.agrona.collections.Long2ObjectHashMap;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The token machine's end of Splitwise's KV transfer: one Subscription that any number of prompt
 * machines publish to. {@link #poll} is an Agent-style duty cycle: it never blocks, reassembles
 * messages that Aeron fragmented, checks every field, and hands the rows to the {@link KvSink} where
 * they lie in the received frame, in the dtype of this machine's cache: no copy on the heap.
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
    private final BufferMemory memory = new BufferMemory();
    private final AtomicLongArray counts = new AtomicLongArray(CHECKS.length);
    private final Long2LongHashMap rowsByTransfer = new Long2LongHashMap(NONE); // Σ over layers of rows received
    private final Long2LongHashMap endByTransfer = new Long2LongHashMap(NONE);  // largest position + 1 received
    private final Long2ObjectHashMap<String> refusals = new Long2ObjectHashMap<>(); // why, where not the sink's
    private final Subscription subscription;
    private final FragmentHandler assembler;
    private final KvSink sink;
    private final int layers;
    private final int kvDim;
    private final Dtype dtype;
    private final int maxTokensPerMessage;

    /**
     * @param channel             {@code aeron:ipc}, or {@code aeron:udp?endpoint=host:port} of this machine
     * @param layers              the model's layers; frames announcing others are dropped
     * @param kvDim               kvHeads · headDim of the model
     * @param dtype               what this machine's KV cache holds: the rows are written into it as they
     *                            arrive, so a transfer in another dtype fails, naming both
     * @param maxTokensPerMessage the senders' {@link KvTransferSender#maxTokensPerMessage()} or more
     */
    public KvTransferReceiver(
        final Aeron aeron, final String channel, final int streamId, final int layers, final int kvDim,
        final Dtype dtype, final int maxTokensPerMessage, final KvSink sink)
    {
        this.sink = sink;
        this.layers = layers;
        this.kvDim = kvDim;
        this.dtype = dtype;
        this.maxTokensPerMessage = maxTokensPerMessage;
        final int maxFrame = (int)Math.min(KvTransferSender.MAX_AERON_MESSAGE,
            KvLayerFlyweight.frameLength(maxTokensPerMessage, kvDim, dtype));
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
        refusals.remove(transferId);
    }

    private void onMessage(final DirectBuffer buffer, final int offset, final int length, final Header header)
    {
        final KvFrameCheck check = frame.wrap(buffer, offset).check(length, layers, kvDim, dtype, maxTokensPerMessage);
        if (check == KvFrameCheck.DTYPE_MISMATCH)
        {
            refuse(frame.transferId(), "its KV arrives as " + frame.dtype() + " but this token machine's KV cache " +
                "holds " + dtype + " (both machines must cache KV in one dtype: --dtype)");
            if (frame.isLast())
            {
                complete(frame.transferId(), frame.firstPosition(), frame.firstToken()); // counts it
            }
            else
            {
                counts.getAndIncrement(check.ordinal());
            }
            return;
        }
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
        try
        {
            // straight from the frame, where Aeron left it (the term, or the reassembly buffer)
            sink.layerArrived(transferId, frame.layer(), first, count, memory.of(buffer),
                (long)offset + KvLayerFlyweight.KEYS_OFFSET);
        }
        catch (final RuntimeException ex)
        {
            counts.getAndIncrement(KvFrameCheck.REFUSED_BY_SINK.ordinal());
            refuse(transferId, null);
            return;
        }
        counts.getAndIncrement(KvFrameCheck.VALID.ordinal());
        rowsByTransfer.put(transferId, received + count);
        endByTransfer.put(transferId, Math.max(orZero(endByTransfer.get(transferId)), (long)first + count));
    }

    /** Drops the transfer's later rows; {@code reason} (null: the sink's) is what it fails with at its end. */
    private void refuse(final long transferId, final String reason)
    {
        if (rowsByTransfer.get(transferId) != REFUSED && reason != null)
        {
            refusals.put(transferId, reason);
        }
        rowsByTransfer.put(transferId, REFUSED);
        endByTransfer.remove(transferId);
    }

    private void complete(final long transferId, final int positions, final int firstToken)
    {
        final long received = orZero(rowsByTransfer.remove(transferId));
        final long end = orZero(endByTransfer.remove(transferId));
        final String refusal = refusals.remove(transferId);
        if (received == REFUSED)
        {
            counts.getAndIncrement(refusal != null ? KvFrameCheck.DTYPE_MISMATCH.ordinal() :
                KvFrameCheck.REFUSED_BY_SINK.ordinal());
            sink.transferFailed(transferId, refusal != null ? refusal : "the token machine refused its rows");
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
