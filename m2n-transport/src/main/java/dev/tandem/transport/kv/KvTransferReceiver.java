package dev.tandem.transport.kv;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.transport.DeviceCopyRuns;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TermBufferLocks;
import io.aeron.Aeron;
import io.aeron.FragmentAssembler;
import io.aeron.Image;
import io.aeron.Subscription;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.FrameDescriptor;
import io.aeron.logbuffer.Header;
import org.agrona.CloseHelper;
import org.agrona.DirectBuffer;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Consumer;

/**
 * The token machine's end of Splitwise's KV transfer: one Subscription that any number of prompt
 * machines publish to. {@link #poll} is an Agent-style duty cycle: it never blocks, reassembles
 * messages that Aeron fragmented, checks every field, and hands the rows to the {@link KvSink} where
 * they lie in the received frame, in the dtype of this machine's cache: no copy on the heap.
 * Bad frames are counted per {@link KvFrameCheck} and dropped. A transfer is complete when its
 * last message arrives and its rows add up to every layer of every position it announced.
 * <p>
 * Into a cache on a device ({@link KvSink#deviceCopies}) no row is copied on the host: each
 * sender's image is peeked, each fragment's rows DMA'd out of the term buffer (page-locked as it
 * is met) into that sender's landing area on the device, and a message is handed over once its
 * copies are done; the images move past what was read after one wait for all the copies, since
 * an IPC publication cleans its log up to the reader's position.
 * One caller thread (the token node's stepping thread, between steps).
 */
public final class KvTransferReceiver implements AutoCloseable
{
    private static final KvFrameCheck[] CHECKS = KvFrameCheck.values();
    private static final long NONE = Long.MIN_VALUE; // the maps' missing value
    private static final long REFUSED = -1;          // rows entry of a transfer the sink refused
    private static final int MAX_SENDERS = 64;       // prompt machines sending at once, onto a device

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
    private final DeviceCopies copies; // the sink's device, or null: rows are handed over in host memory
    private final TermBufferLocks termLocks;
    private final DeviceCopyRuns runs = new DeviceCopyRuns();
    private final Landing[] landings = new Landing[MAX_SENDERS];
    private final ControlledFragmentHandler deviceHandler = this::onDeviceFragment;
    private final Consumer<Image> peek = this::peek;
    private final long maxPayloadBytes;
    private int landingCount;
    private Landing current; // the sender whose image is being peeked
    private int peekWork;

    /** One sender's message on its way onto the device: its header on the host, its rows in its landing area. */
    private static final class Landing
    {
        final int slot;
        final UnsafeBuffer head = new UnsafeBuffer(new byte[KvLayerFlyweight.HEADER_LENGTH]);
        Image image;     // null: the slot is free
        long position;   // how far the image was read; it moves there once the copies are done
        boolean active;  // inside a message
        int received;    // bytes of the message so far
        long payload;    // the header's payload length, once the header is in
        long device;     // the landing area
        boolean landing; // the payload goes onto the device (it fits the largest message)

        Landing(final int slot)
        {
            this.slot = slot;
        }
    }

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
        this.maxPayloadBytes = maxFrame - KvLayerFlyweight.HEADER_LENGTH;
        this.copies = sink.deviceCopies();
        this.termLocks = copies == null ? null : new TermBufferLocks(MAX_SENDERS, line -> System.err.println("kv: " + line),
            "KV rows are copied out of unlocked term buffers, through the driver's pageable path");
        this.subscription = aeron.addSubscription(channel, streamId);
    }

    /** @return fragments read (onto a device: the images that moved); 0 when there was nothing to do. */
    public int poll(final int fragmentLimit)
    {
        if (copies == null)
        {
            return subscription.poll(assembler, fragmentLimit);
        }
        freeSlotsOfClosedImages();
        peekWork = 0;
        subscription.forEachImage(peek); // one snapshot of the images: they come and go meanwhile
        runs.await();                    // before any image moves past what its copies read
        for (int i = 0; i < landingCount; i++)
        {
            final Landing l = landings[i];
            if (l.image != null && !l.image.isClosed() && l.position > l.image.position())
            {
                l.image.position(l.position);
            }
        }
        return peekWork;
    }

    /** Reads the rest of {@code image}'s current term without moving it ({@link #poll}). */
    private void peek(final Image image)
    {
        final Landing l = landingOf(image);
        final long from = Math.max(l.position, image.position());
        l.position = from;
        current = l;
        // within the term: an image moves at most to the end of its current term at once
        final long end = image.controlledPeek(from, deviceHandler, (from | (image.termBufferLength() - 1)) + 1);
        l.position = Math.max(l.position, end); // end: past padding at a term's end too
        peekWork += l.position != from ? 1 : 0;
    }

    private ControlledFragmentHandler.Action onDeviceFragment(
        final DirectBuffer buffer, final int offset, final int length, final Header header)
    {
        final Landing l = current;
        termLocks.imageTerm(copies, l.slot, buffer.addressOffset(), buffer.capacity());
        final byte flags = header.flags();
        l.position = header.position();
        if ((flags & FrameDescriptor.BEGIN_FRAG_FLAG) != 0)
        {
            l.active = true;
            l.received = 0;
            l.landing = false;
        }
        else if (!l.active)
        {
            return ControlledFragmentHandler.Action.CONTINUE; // the rest of a message sent before this reader joined
        }
        int consumed = 0;
        if (l.received < KvLayerFlyweight.HEADER_LENGTH)
        {
            consumed = Math.min(length, KvLayerFlyweight.HEADER_LENGTH - l.received);
            l.head.putBytes(l.received, buffer, offset, consumed);
            l.received += consumed;
            if (l.received == KvLayerFlyweight.HEADER_LENGTH)
            {
                l.payload = frame.wrap(l.head, 0).payloadLength();
                l.landing = l.payload > 0 && l.payload <= maxPayloadBytes; // else the check at its end drops it
                if (l.landing)
                {
                    l.device = sink.deviceLanding(l.slot, l.payload);
                }
            }
        }
        final int bytes = length - consumed;
        if (bytes > 0)
        {
            final long at = (long)l.received - KvLayerFlyweight.HEADER_LENGTH;
            if (l.landing && at + bytes <= l.payload) // more than announced: LENGTH_MISMATCH at the end
            {
                runs.add(copies, true, buffer.addressOffset() + offset + consumed, l.device + at, bytes);
            }
            l.received += bytes;
        }
        if ((flags & FrameDescriptor.END_FRAG_FLAG) != 0)
        {
            l.active = false;
            runs.await(); // the rows are on the device before the sink reads them
            onFrame(frame.wrap(l.head, 0).check(l.received, layers, kvDim, dtype, maxTokensPerMessage), null, 0, l.slot);
        }
        return ControlledFragmentHandler.Action.CONTINUE;
    }

    /** This image's landing slot: its own, a free one, or a new one. */
    private Landing landingOf(final Image image)
    {
        Landing free = null;
        for (int i = 0; i < landingCount; i++)
        {
            final Landing l = landings[i];
            if (l.image == image)
            {
                return l;
            }
            if (l.image == null && free == null)
            {
                free = l;
            }
        }
        if (free == null)
        {
            if (landingCount == MAX_SENDERS)
            {
                throw new TandemException("more than " + MAX_SENDERS + " prompt machines send KV to this token " +
                    "machine at once");
            }
            free = new Landing(landingCount);
            landings[landingCount++] = free;
        }
        free.image = image;
        free.position = image.position();
        free.active = false;
        return free;
    }

    /** A sender's image that closed gives its slot back, and its terms' page-locks, while its log is still mapped. */
    private void freeSlotsOfClosedImages()
    {
        for (int i = 0; i < landingCount; i++)
        {
            final Landing l = landings[i];
            if (l.image != null && l.image.isClosed())
            {
                termLocks.imageGone(l.slot);
                l.image = null;
                l.active = false;
            }
        }
    }

    /** @return true once some sender's image is connected. */
    public boolean isConnected()
    {
        return subscription.isConnected();
    }

    /** @return the senders' images this receiver has now, one per connected prompt machine's publication. */
    public int images()
    {
        return subscription.imageCount();
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
        onFrame(frame.wrap(buffer, offset).check(length, layers, kvDim, dtype, maxTokensPerMessage), buffer, offset, -1);
    }

    /**
     * A whole message, checked, {@link #frame} over its header: its rows in {@code buffer} from
     * {@code offset} (host), or landed in {@code slot}'s area (a device; slot ≥ 0).
     */
    private void onFrame(final KvFrameCheck check, final DirectBuffer buffer, final int offset, final int slot)
    {
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
            if (slot < 0)
            {
                // straight from the frame, where Aeron left it (the term, or the reassembly buffer)
                sink.layerArrived(transferId, frame.layer(), first, count, memory.of(buffer),
                    (long)offset + KvLayerFlyweight.KEYS_OFFSET);
            }
            else
            {
                sink.layerLanded(transferId, frame.layer(), first, count, slot);
            }
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
        if (termLocks != null)
        {
            termLocks.close(); // while the logs are still mapped
        }
        CloseHelper.close(subscription);
    }
}
