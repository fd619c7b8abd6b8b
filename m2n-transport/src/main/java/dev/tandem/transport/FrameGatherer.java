package dev.tandem.transport;

import org.agrona.DirectBuffer;

/**
 * Reassembles the frames of M peers for one (step, layer, micro-batch) straight into a
 * {@link RowBatch}: each fragment's routing bytes and activation bytes are copied once, from
 * the log (or ring) to their final row, with no staging buffer. Peers' streams are independent
 * and each arrives in order, so per-peer state is only "where in the current frame am I".
 * <p>
 * Two placements: {@link #ARRIVAL_ORDER} (expert side: a frame's rows are reserved when its
 * first fragment arrives, so all senders' rows end up concatenated) and {@link #FIXED}
 * (attention side: results go back to the rows they were sent from, and the token count must
 * match). Transport adapters map the returned {@code CONTINUE/BREAK/ABORT} to their poll API.
 * <p>
 * Into a batch {@link RowBatch#onDevice on a device}, when the transport says it can
 * ({@link #begin}'s {@code copyToDevice}), the activation bytes are queued as DMAs straight from
 * the fragment's log onto the device; the transport must {@link #awaitDeviceCopies} before the
 * log space is given back. Where the log is not page-locked ({@link #sourceRegistered}) the bytes
 * go through the batch's pinned staging rows on their way.
 */
final class FrameGatherer
{
    static final boolean ARRIVAL_ORDER = true;
    static final boolean FIXED = false;

    static final int CONTINUE = 0; // fragment consumed, keep polling this peer
    static final int BREAK = 1;    // fragment consumed, this peer's frame is complete
    static final int ABORT = 2;    // fragment left in the log: it belongs to a later key

    static final byte BEGIN_FLAG = (byte)0x80; // same bits as Aeron's FrameDescriptor
    static final byte END_FLAG = 0x40;
    static final byte UNFRAGMENTED = (byte)(BEGIN_FLAG | END_FLAG);

    private static final int IDLE = 0;
    private static final int IN_FRAME = 1;
    private static final int DONE = 2;
    private static final int SKIPPING = 3;

    private final FrameValidator validator;
    private final TransportCounters counters;
    private final boolean arrivalOrder;
    private final FrameFlyweight frame = new FrameFlyweight();
    private final int[] state;        // (peers)
    private final int[] frameLength;  // (peers) bytes, header included
    private final int[] received;     // (peers) bytes of the current frame so far
    private final int[] rowStart;     // (peers)
    private final int[] tokens;       // (peers)
    private final DeviceCopyRuns deviceRuns = new DeviceCopyRuns();
    private boolean copyToDevice;
    private boolean sourceRegistered;

    private RowBatch batch;
    private long step;
    private int layer;
    private int microBatch;
    private int pending;
    private int nextRow;

    FrameGatherer(final FrameValidator validator, final TransportCounters counters, final int peerCount,
        final boolean arrivalOrder)
    {
        this.validator = validator;
        this.counters = counters;
        this.arrivalOrder = arrivalOrder;
        this.state = new int[peerCount];
        this.frameLength = new int[peerCount];
        this.received = new int[peerCount];
        this.rowStart = new int[peerCount];
        this.tokens = new int[peerCount];
    }

    FrameValidator validator()
    {
        return validator;
    }

    /**
     * Start gathering one key into {@code into}; any half-read frame of the previous key is abandoned.
     *
     * @param copyToDevice the activations go straight onto {@code into}'s device rows (it must be on a device).
     */
    void begin(final long step, final int layer, final int microBatch, final RowBatch into, final boolean copyToDevice)
    {
        if (into.peerCount() != state.length)
        {
            throw new IllegalArgumentException("batch has " + into.peerCount() + " peers, expected " + state.length);
        }
        if (into.dtype() != validator.dtype())
        {
            throw new IllegalArgumentException("batch holds " + into.dtype() + " rows, the wire carries " +
                validator.dtype());
        }
        this.batch = into;
        this.copyToDevice = copyToDevice;
        this.step = step;
        this.layer = layer;
        this.microBatch = microBatch;
        this.pending = state.length;
        this.nextRow = 0;
        for (int p = 0; p < state.length; p++)
        {
            state[p] = state[p] == IN_FRAME || state[p] == SKIPPING ? SKIPPING : IDLE;
        }
        if (arrivalOrder)
        {
            into.rowCount(0);
        }
    }

    /** Whether the log of the fragments that follow is page-locked, so that DMAs may read it in place. */
    void sourceRegistered(final boolean registered)
    {
        this.sourceRegistered = registered;
    }

    /** @return whether this gather copies activations straight onto a device batch ({@link #begin}). */
    boolean gathersOntoDevice()
    {
        return copyToDevice;
    }

    /** @return the copies of the batch being gathered (on a device). */
    dev.tandem.core.compute.DeviceCopies deviceCopies()
    {
        return batch.deviceCopies();
    }

    /** Returns once the activations of every fragment taken so far are on the device. */
    void awaitDeviceCopies()
    {
        deviceRuns.await();
    }

    boolean hasPendingDeviceCopies()
    {
        return deviceRuns.hasPending();
    }

    boolean isComplete()
    {
        return pending == 0;
    }

    boolean isPending(final int peer)
    {
        return state[peer] != DONE;
    }

    /**
     * One fragment of peer {@code peer}'s stream.
     *
     * @param flags {@link #BEGIN_FLAG} and/or {@link #END_FLAG}; {@link #UNFRAGMENTED} for a whole frame.
     * @return {@link #CONTINUE}, {@link #BREAK} or {@link #ABORT}.
     */
    int onFragment(final int peer, final DirectBuffer buffer, final int offset, final int length, final byte flags)
    {
        final boolean begin = (flags & BEGIN_FLAG) != 0;
        final boolean end = (flags & END_FLAG) != 0;

        if (begin)
        {
            if (state[peer] == DONE || batch == null)
            {
                return ABORT;
            }
            final int action = onFirstFragment(peer, buffer, offset, length, end);
            if (action != CONTINUE || state[peer] != IN_FRAME)
            {
                return action;
            }
        }
        else if (state[peer] == SKIPPING || state[peer] == IDLE)
        {
            if (end)
            {
                state[peer] = IDLE;
            }
            return CONTINUE;
        }
        else if (received[peer] > frameLength[peer] - length)
        {
            return reject(peer, FrameCheck.LENGTH_MISMATCH, end);
        }

        copyToRows(peer, buffer, offset, length);
        received[peer] += length;

        if (end)
        {
            if (received[peer] != frameLength[peer])
            {
                return reject(peer, FrameCheck.LENGTH_MISMATCH, true);
            }
            state[peer] = DONE;
            pending--;
            if (arrivalOrder)
            {
                batch.peerRows(peer, rowStart[peer], tokens[peer]);
                batch.rowCount(Math.max(batch.rowCount(), rowStart[peer] + tokens[peer]));
            }
            counters.increment(FrameCheck.VALID);
            return BREAK;
        }
        return CONTINUE;
    }

    private int onFirstFragment(
        final int peer, final DirectBuffer buffer, final int offset, final int length, final boolean end)
    {
        if (state[peer] == IN_FRAME)
        {
            counters.increment(FrameCheck.LENGTH_MISMATCH); // previous frame never ended
            releaseRows(peer);
        }
        state[peer] = end ? IDLE : SKIPPING; // until proven valid

        final FrameCheck check = validator.checkHeader(buffer, offset, length, end);
        if (check != FrameCheck.VALID)
        {
            counters.increment(check);
            return CONTINUE;
        }

        frame.wrap(buffer, offset);
        if (frame.senderId() != peer)
        {
            counters.increment(FrameCheck.BAD_SENDER);
            return CONTINUE;
        }
        final int order = compareKey(frame.step(), frame.layer(), frame.microBatch());
        if (order < 0)
        {
            counters.increment(FrameCheck.STALE);
            return CONTINUE;
        }
        if (order > 0)
        {
            state[peer] = IDLE;
            return ABORT; // a later key: leave it in the log until that key is gathered
        }

        final int frameTokens = frame.tokenCount();
        final int start;
        if (arrivalOrder)
        {
            if (frameTokens > batch.capacityRows() - nextRow)
            {
                counters.increment(FrameCheck.NO_CAPACITY);
                return CONTINUE;
            }
            start = nextRow;
            nextRow += frameTokens;
        }
        else
        {
            if (frameTokens != batch.peerRowCount(peer))
            {
                counters.increment(FrameCheck.ROW_COUNT_MISMATCH);
                return CONTINUE;
            }
            start = batch.peerRowStart(peer);
        }

        state[peer] = IN_FRAME;
        tokens[peer] = frameTokens;
        rowStart[peer] = start;
        frameLength[peer] = FrameFlyweight.HEADER_LENGTH + frame.payloadLength();
        received[peer] = 0;
        return CONTINUE;
    }

    private int reject(final int peer, final FrameCheck check, final boolean end)
    {
        counters.increment(check);
        releaseRows(peer);
        state[peer] = end ? IDLE : SKIPPING;
        return CONTINUE;
    }

    /** Give back a rejected frame's rows when no later reservation sits behind them. */
    private void releaseRows(final int peer)
    {
        if (arrivalOrder && rowStart[peer] + tokens[peer] == nextRow)
        {
            nextRow = rowStart[peer];
        }
    }

    /** Copy the part of the frame in this fragment that is routing or activations to its row. */
    private void copyToRows(final int peer, final DirectBuffer buffer, final int offset, final int length)
    {
        final int from = received[peer];
        final int to = from + length;
        final int frameTokens = tokens[peer];

        final int routingFrom = FrameFlyweight.HEADER_LENGTH;
        final int routingTo = routingFrom + frameTokens * FrameFlyweight.ROUTING_ENTRY_LENGTH;
        final int lo = Math.max(from, routingFrom);
        final int hi = Math.min(to, routingTo);
        if (lo < hi)
        {
            batch.routing().putBytes(
                RowBatch.routingOffset(rowStart[peer]) + (lo - routingFrom), buffer, offset + (lo - from), hi - lo);
        }

        final int activationsFrom = FrameFlyweight.activationsOffset(frameTokens);
        final int aLo = Math.max(from, activationsFrom);
        if (aLo < to)
        {
            final int dst = batch.activationOffset(rowStart[peer]) + (aLo - activationsFrom);
            final int src = offset + (aLo - from);
            final int bytes = to - aLo;
            if (!copyToDevice)
            {
                batch.activations().putBytes(dst, buffer, src, bytes);
            }
            else if (sourceRegistered)
            {
                deviceRuns.add(batch.deviceCopies(), true, buffer.addressOffset() + src, batch.deviceAddress() + dst, bytes);
            }
            else
            {
                batch.activations().putBytes(dst, buffer, src, bytes);
                deviceRuns.add(batch.deviceCopies(), true, batch.activations().addressOffset() + dst,
                    batch.deviceAddress() + dst, bytes);
            }
        }
    }

    private int compareKey(final long frameStep, final int frameLayer, final int frameMicroBatch)
    {
        if (frameStep != step)
        {
            return frameStep < step ? -1 : 1;
        }
        if (frameLayer != layer)
        {
            return frameLayer < layer ? -1 : 1;
        }
        return Integer.compare(frameMicroBatch, microBatch);
    }
}
