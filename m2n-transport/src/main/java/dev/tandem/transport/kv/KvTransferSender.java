package dev.tandem.transport.kv;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.core.engine.KvRowSource;
import dev.tandem.transport.DeviceFramePublisher;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TermBufferLocks;
import dev.tandem.transport.TransportConfig;
import io.aeron.Aeron;
import io.aeron.ChannelUri;
import io.aeron.CommonContext;
import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import org.agrona.BufferUtil;
import org.agrona.CloseHelper;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.SystemNanoClock;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The prompt machine's end of Splitwise's KV transfer: one ExclusivePublication per token
 * machine it may send to. Each call sends one layer's rows of one transfer, cut into messages of
 * at most {@link #maxTokensPerMessage()} positions; each message's rows are copied out of the KV
 * cache ({@link KvRowSource}) straight into the frame, in the cache's own dtype: into the log
 * itself ({@code tryClaim}) for a message within one MTU, else into one off-heap staging frame that
 * is offered whole, which Aeron fragments and the receiver reassembles. With {@code framesInLog}
 * (rows copied by the CPU) runs are cut into messages of one claim each, on aeron:ipc with the
 * largest MTU, so that rows go from the cache into the log and, on the token machine, from the log
 * into its cache: one copy each side, no staging, no reassembly. A device, whose copies cost a launch
 * and a wait each, sends few large messages instead: with {@link #sendFromDevice} each message's
 * rows are gathered on the device and DMA'd straight into fragments claimed in the log
 * ({@link DeviceFramePublisher}), else copied by one DMA into the staging frame, which Aeron then
 * copies into the log. Messages to one destination arrive in the order sent. One caller thread
 * (the prompt node's stepping thread).
 */
public final class KvTransferSender implements AutoCloseable
{
    /** Aeron caps one message at 16 MiB whatever the term length. */
    public static final int MAX_AERON_MESSAGE = 16 * 1024 * 1024;
    private static final int HEADER_LENGTH = io.aeron.protocol.DataHeaderFlyweight.HEADER_LENGTH;
    private static final MemorySegment ADDRESS_SPACE = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    private final KvLayerFlyweight frame = new KvLayerFlyweight();
    private final BufferClaim claim = new BufferClaim();
    private final ExclusivePublication[] publications; // (destinations)
    private final int[] claimRows;                     // (destinations) positions a message of one claim; 0: staged
    private final String[] names;                      // (destinations) for error messages
    private final UnsafeBuffer staging;                // one message above the MTU
    private final MemorySegment stagingMemory;
    private final IdleStrategy idle;
    private final long sendTimeoutNs;
    private final int kvDim;
    private final Dtype dtype;
    private final int maxTokensPerMessage;
    private DeviceCopies copies;   // sendFromDevice's: rows go from the device into the claims
    private Activations deviceRows; // one message's rows, gathered on the device
    private long deviceRowsAddress;
    private TermBufferLocks termLocks;
    private DeviceFramePublisher devicePublisher;
    private final UnsafeBuffer head = new UnsafeBuffer(new byte[KvLayerFlyweight.HEADER_LENGTH]);

    /**
     * @param channels            one per destination token machine: {@code aeron:ipc} on one host,
     *                            {@code aeron:udp?endpoint=host:port} across hosts; a term length is
     *                            added for the largest message unless the channel sets one
     * @param streamId            destination d's receiver listens on stream {@code streamId + d}, so that
     *                            token machines sharing one media driver (aeron:ipc) each get their own
     * @param kvDim               kvHeads · headDim of the model
     * @param dtype               what the prompt machine's KV cache holds, and so what the frames carry
     * @param maxTokensPerMessage positions per message, e.g. the prompt chunk; lowered to fit Aeron's 16 MiB
     */
    public KvTransferSender(
        final Aeron aeron, final TransportConfig config, final List<String> channels, final int streamId,
        final int kvDim, final Dtype dtype, final int maxTokensPerMessage)
    {
        this(aeron, config, channels, streamId, kvDim, dtype, maxTokensPerMessage, false);
    }

    /**
     * @param framesInLog cut runs into messages that each fit one claim (see above): for a prompt
     *                    machine that computes on the CPU ({@code !ComputeBackend.stagesHostRows()})
     */
    public KvTransferSender(
        final Aeron aeron, final TransportConfig config, final List<String> channels, final int streamId,
        final int kvDim, final Dtype dtype, final int maxTokensPerMessage, final boolean framesInLog)
    {
        if (kvDim < 1 || maxTokensPerMessage < 1)
        {
            throw new IllegalArgumentException("kvDim and maxTokensPerMessage must be >= 1");
        }
        this.kvDim = kvDim;
        this.dtype = dtype;
        this.maxTokensPerMessage = (int)Math.min(maxTokensPerMessage,
            (MAX_AERON_MESSAGE - KvLayerFlyweight.HEADER_LENGTH) / KvLayerFlyweight.payloadLength(1, kvDim, dtype));
        if (this.maxTokensPerMessage < 1)
        {
            throw new IllegalArgumentException("one row of " + kvDim + " keys and values exceeds 16 MiB");
        }
        final int maxFrame = (int)KvLayerFlyweight.frameLength(this.maxTokensPerMessage, kvDim, dtype);
        this.staging = new UnsafeBuffer(BufferUtil.allocateDirectAligned(maxFrame, 4096));
        this.stagingMemory = MemorySegment.ofAddress(staging.addressOffset()).reinterpret(maxFrame);
        this.idle = config.pollIdleStrategy().get();
        this.sendTimeoutNs = config.sendTimeoutNs();
        this.publications = new ExclusivePublication[channels.size()];
        this.claimRows = new int[channels.size()];
        this.names = new String[channels.size()];
        try
        {
            for (int d = 0; d < publications.length; d++)
            {
                final ChannelUri uri = ChannelUri.parse(channels.get(d));
                // one host: the MTU only cuts messages into the log's frames, no network to respect
                final boolean largestMtu = framesInLog && uri.isIpc() &&
                    uri.get(CommonContext.MTU_LENGTH_PARAM_NAME) == null &&
                    KvLayerFlyweight.frameLength(1, kvDim, dtype) <= TransportConfig.MAX_MTU_LENGTH - HEADER_LENGTH;
                if (largestMtu)
                {
                    uri.put(CommonContext.MTU_LENGTH_PARAM_NAME, Integer.toString(TransportConfig.MAX_MTU_LENGTH));
                }
                if (uri.get(CommonContext.TERM_LENGTH_PARAM_NAME) == null)
                {
                    // room for a layer or more in flight: a back-pressured sender parks (measured: 512 KiB
                    // or 2 MiB terms cut the CPU's rate 2-4x against 16 MiB at 256 fp32 Mixtral positions)
                    uri.put(CommonContext.TERM_LENGTH_PARAM_NAME, Integer.toString(largestMtu ?
                        TransportConfig.termLengthFor(Math.max(maxFrame, TransportConfig.MAX_MTU_LENGTH)) :
                        TransportConfig.termLengthFor(maxFrame)));
                }
                publications[d] = aeron.addExclusivePublication(uri.toString(), streamId + d);
                claimRows[d] = !framesInLog ? 0 : (int)Math.min(this.maxTokensPerMessage,
                    (publications[d].maxPayloadLength() - KvLayerFlyweight.HEADER_LENGTH) /
                    KvLayerFlyweight.payloadLength(1, kvDim, dtype));
                names[d] = "KV destination " + d + " (" + channels.get(d) + " stream " + (streamId + d) + ")";
            }
        }
        catch (final RuntimeException ex)
        {
            CloseHelper.quietCloseAll(publications);
            throw ex;
        }
    }

    /**
     * From now on rows of a cache on {@code backend}'s device go from the device into the log with no
     * host copy, where the backend has DMA copies ({@link ComputeBackend#openCopies}); @return
     * whether it has. {@code log} hears whether the term buffers could be page-locked.
     */
    public boolean sendFromDevice(final ComputeBackend backend, final Consumer<String> log)
    {
        final DeviceCopies deviceCopies = backend.openCopies(); // closed with the backend
        if (deviceCopies == null)
        {
            return false;
        }
        final long payload = KvLayerFlyweight.payloadLength(maxTokensPerMessage, kvDim, dtype);
        final Activations rows = backend.allocate(1, (int)((payload + Float.BYTES - 1) / Float.BYTES));
        sendFromDevice(deviceCopies, rows, deviceCopies.address(rows), log);
        return true;
    }

    /**
     * As {@link #sendFromDevice(ComputeBackend, Consumer)}: {@code rows} at device address
     * {@code address}, room for one message's rows, is where each message is gathered.
     */
    void sendFromDevice(final DeviceCopies deviceCopies, final Activations rows, final long address,
        final Consumer<String> log)
    {
        this.deviceRows = rows;
        this.deviceRowsAddress = address;
        this.termLocks = new TermBufferLocks(publications.length, log,
            "KV rows go through the sender's pinned staging frame");
        this.devicePublisher = new DeviceFramePublisher(termLocks, publications[0].maxPayloadLength(),
            KvLayerFlyweight.frameLength(maxTokensPerMessage, kvDim, dtype), 1, SystemNanoClock.INSTANCE, idle,
            this::checkRetry);
        this.copies = deviceCopies;
    }

    /**
     * The off-heap frame that messages above the MTU are filled in, as long as this sender is
     * reachable: the prompt machine's backend page-locks it ({@code ComputeBackend.registerHost}) so
     * that a device copies rows into it at the bus's rate.
     */
    public MemorySegment stagingMemory()
    {
        return stagingMemory;
    }

    public int destinations()
    {
        return publications.length;
    }

    /** @return positions per message, after the cap that keeps a message within Aeron's 16 MiB. */
    public int maxTokensPerMessage()
    {
        return maxTokensPerMessage;
    }

    public boolean isConnected(final int destination)
    {
        return publications[destination].isConnected();
    }

    /** Wait until every destination's receiver is subscribed; {@link TandemException} naming the first that is not. */
    public KvTransferSender awaitConnected(final long timeoutNs)
    {
        final long deadlineNs = System.nanoTime() + timeoutNs;
        idle.reset();
        for (int d = 0; d < publications.length; d++)
        {
            while (!publications[d].isConnected())
            {
                if (System.nanoTime() - deadlineNs > 0)
                {
                    throw new TandemException(names[d] + ": no receiver within " + millis(timeoutNs) + " ms");
                }
                idle.idle();
            }
        }
        return this;
    }

    /**
     * Sends the rows of {@code layer} for positions {@code firstPosition .. firstPosition + count − 1}
     * of the transfer, copied from {@code rows} (in this sender's dtype) straight into the frames.
     *
     * @throws TandemException naming the destination if it stays back-pressured or unconnected
     *                         past the send timeout, or its publication is closed
     * @throws IllegalArgumentException if the rows are in another dtype than this sender's frames
     */
    public void sendLayer(
        final int destination, final long transferId, final int layer, final int layers, final int firstPosition,
        final int count, final KvRowSource rows)
    {
        if (rows.elementBytes() != dtype.bytes())
        {
            throw new IllegalArgumentException("KV rows of " + rows.elementBytes() + " bytes an element, but this " +
                "sender's frames carry " + dtype);
        }
        final int perMessage = claimRows[destination] > 0 ? claimRows[destination] : maxTokensPerMessage;
        for (int done = 0; done < count; done += perMessage)
        {
            final int n = Math.min(perMessage, count - done);
            send(destination, transferId, layer, layers, firstPosition + done, n, rows, done, (byte)0, 0);
        }
    }

    /**
     * Ends the transfer after every layer of positions [0, positions) was sent: the receiver
     * then resumes decoding from {@code firstToken}, the token the prompt machine sampled.
     */
    public void sendComplete(
        final int destination, final long transferId, final int layers, final int positions, final int firstToken)
    {
        send(destination, transferId, layers - 1, layers, positions, 0, null, 0, KvLayerFlyweight.FLAG_LAST,
            firstToken);
    }

    private void send(
        final int destination, final long transferId, final int layer, final int layers, final int firstPosition,
        final int count, final KvRowSource rows, final int fromRow, final byte flags, final int firstToken)
    {
        final ExclusivePublication publication = publications[destination];
        final int length = (int)KvLayerFlyweight.frameLength(count, kvDim, dtype);
        if (copies != null && count > 0 && termLocks.usable())
        {
            sendFromDevice(publication, destination, transferId, layer, layers, firstPosition, count, rows, fromRow,
                length);
            return;
        }
        final boolean claimable = length <= publication.maxPayloadLength();
        if (!claimable)
        {
            write(staging, 0, transferId, layer, layers, firstPosition, count, rows, fromRow, flags, firstToken);
        }
        final long startNs = System.nanoTime();
        idle.reset();
        while (true)
        {
            final long result;
            if (claimable)
            {
                result = publication.tryClaim(length, claim);
                if (result > 0)
                {
                    try
                    {
                        write(claim.buffer(), claim.offset(), transferId, layer, layers, firstPosition, count, rows,
                            fromRow, flags, firstToken);
                    }
                    catch (final RuntimeException ex)
                    {
                        claim.abort(); // the receiver skips it: a padding frame, not half a message
                        throw ex;
                    }
                    claim.commit();
                    return;
                }
            }
            else
            {
                result = publication.offer(staging, 0, length);
                if (result > 0)
                {
                    return;
                }
            }
            checkRetry(destination, result, System.nanoTime() - startNs);
            idle.idle();
        }
    }

    /** The rows gathered on the device, then DMA'd from there into the claimed fragments behind the header. */
    private void sendFromDevice(
        final ExclusivePublication publication, final int destination, final long transferId, final int layer,
        final int layers, final int firstPosition, final int count, final KvRowSource rows, final int fromRow,
        final int length)
    {
        rows.gatherTo(fromRow, count, deviceRows);
        copies.afterCompute();
        frame.wrap(head, 0).writeHeader(transferId, layer, layers, firstPosition, count, kvDim, dtype, (byte)0, 0);
        boolean sent = false;
        try
        {
            devicePublisher.add(publication, destination, copies, head, KvLayerFlyweight.HEADER_LENGTH,
                deviceRowsAddress - KvLayerFlyweight.KEYS_OFFSET, length);
            devicePublisher.commitAll(copies); // the device rows are gathered again for the next message
            sent = true;
        }
        finally
        {
            if (!sent)
            {
                devicePublisher.abortAll();
            }
        }
    }

    private void write(
        final MutableDirectBuffer buffer, final int offset, final long transferId, final int layer,
        final int layers, final int firstPosition, final int count, final KvRowSource rows, final int fromRow,
        final byte flags, final int firstToken)
    {
        frame.wrap(buffer, offset)
            .writeHeader(transferId, layer, layers, firstPosition, count, kvDim, dtype, flags, firstToken);
        if (count > 0)
        {
            // keys then values, as the frame lays them out, in one copy out of the cache
            final long keys = (long)offset + KvLayerFlyweight.KEYS_OFFSET;
            if (buffer == staging)
            {
                rows.copyTo(fromRow, count, stagingMemory, keys);
            }
            else
            {
                // a claim: a new window on the log each time, so addressed absolutely rather than by a
                // segment made per message (the log is mapped memory, never an array; the claim's
                // length bounds the frame)
                rows.copyTo(fromRow, count, ADDRESS_SPACE, buffer.addressOffset() + keys);
            }
        }
    }

    /** Back-pressure and a missing receiver are retried until the send timeout; anything else fails at once. */
    private void checkRetry(final int destination, final long result, final long waitedNs)
    {
        final boolean retryable = result == Publication.BACK_PRESSURED || result == Publication.ADMIN_ACTION ||
            result == Publication.NOT_CONNECTED;
        if (!retryable)
        {
            throw new TandemException(names[destination] + ": send failed: " + Publication.errorString(result));
        }
        if (waitedNs > sendTimeoutNs)
        {
            throw new TandemException(names[destination] + ": " +
                (result == Publication.NOT_CONNECTED ? "no receiver" : "back-pressured") + " for " +
                millis(waitedNs) + " ms; is the token machine polling its KV receiver?");
        }
    }

    private static long millis(final long nanos)
    {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    @Override
    public void close()
    {
        if (termLocks != null)
        {
            termLocks.close(); // while the logs are still mapped
        }
        CloseHelper.closeAll(publications);
    }
}
