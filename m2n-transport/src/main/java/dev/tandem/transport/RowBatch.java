package dev.tandem.transport;

import dev.tandem.core.compute.DeviceCopies;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;

/**
 * Preallocated rows of one micro-batch and how they split between peers; reused for every
 * step, layer and micro-batch, so the hot path allocates nothing.
 * <p>
 * On an attention node (sender) the rows are grouped by destination expert node: peer
 * {@code r}'s rows are {@code [peerRowStart(r), peerRowStart(r) + peerRowCount(r))}; the caller
 * sets that layout before {@link M2nSender#send}, and results come back into the same rows.
 * On an expert node (receiver) {@link M2nReceiver#receive} fills the rows of all senders,
 * concatenated in arrival order, and records each sender's range; the replies go back from
 * the same ranges.
 * <p>
 * {@link #onDevice} moves the activations into device memory: the host activations then become
 * the pinned staging buffer, and an Aeron endpoint copies the rows straight between the device
 * and its term buffers (routing stays in host memory, where the frame's header is written).
 */
public final class RowBatch
{
    private static final int ALIGNMENT = 64; // cache line, also enough for any vector load

    private final int capacityRows;
    private final int hiddenSize;
    private final Dtype dtype;
    private final int rowBytes;
    private final UnsafeBuffer activations; // (capacityRows, hiddenSize) in dtype, off-heap, freed by GC
    private final MemorySegment activationMemory; // the same bytes, for vector loads and stores
    private final UnsafeBuffer routing;     // (capacityRows, 12): slot int32, expert int32, gate f32 (LE)
    private final int[] peerRowStart;       // (peers)
    private final int[] peerRowCount;       // (peers)
    private int rowCount;
    private DeviceCopies deviceCopies; // null: the activations are the host buffer above
    private long deviceAddress;        // the activations' first byte in device memory

    /**
     * @param peerCount    number of peers on the other side (receivers for a sender, senders for a receiver).
     * @param capacityRows rows the buffers hold.
     * @param hiddenSize   elements per row.
     * @param dtype        element type.
     */
    public RowBatch(final int peerCount, final int capacityRows, final int hiddenSize, final Dtype dtype)
    {
        if (peerCount <= 0 || capacityRows < 0 || hiddenSize <= 0)
        {
            throw new IllegalArgumentException(
                "peerCount=" + peerCount + " capacityRows=" + capacityRows + " hiddenSize=" + hiddenSize);
        }
        this.capacityRows = capacityRows;
        this.hiddenSize = hiddenSize;
        this.dtype = dtype;
        this.rowBytes = Math.multiplyExact(hiddenSize, dtype.bytes());
        this.activations = new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(ALIGNMENT, Math.multiplyExact(capacityRows, rowBytes)), ALIGNMENT));
        this.activationMemory = MemorySegment.ofBuffer(activations.byteBuffer());
        this.routing = new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(ALIGNMENT, capacityRows * FrameFlyweight.ROUTING_ENTRY_LENGTH), ALIGNMENT));
        this.peerRowStart = new int[peerCount];
        this.peerRowCount = new int[peerCount];
    }

    public int peerCount()
    {
        return peerRowStart.length;
    }

    public int capacityRows()
    {
        return capacityRows;
    }

    public int hiddenSize()
    {
        return hiddenSize;
    }

    public Dtype dtype()
    {
        return dtype;
    }

    /**
     * The activations live in device memory at {@code deviceAddress} ({@code capacityRows} rows
     * of {@link #rowBytes()}), moved by {@code copies}; the host activations are page-locked as the
     * staging buffer for transports that cannot copy to and from the device themselves.
     *
     * @return whether the staging buffer could be page-locked.
     */
    public boolean onDevice(final DeviceCopies copies, final long deviceAddress)
    {
        this.deviceCopies = copies;
        this.deviceAddress = deviceAddress;
        return copies.register(activations.addressOffset(), activations.capacity());
    }

    public boolean isOnDevice()
    {
        return deviceCopies != null;
    }

    /** @return the copies that move the device activations; null for host rows. */
    public DeviceCopies deviceCopies()
    {
        return deviceCopies;
    }

    /** @return the device address of the activations' first byte ({@link #onDevice}). */
    public long deviceAddress()
    {
        return deviceAddress;
    }

    /** Every peer's device rows into the host staging buffer, done when this returns. */
    public void stageToHost()
    {
        stage(false);
    }

    /** Every peer's rows from the host staging buffer onto the device, done when this returns. */
    public void stageToDevice()
    {
        stage(true);
    }

    private void stage(final boolean toDevice)
    {
        for (int p = 0; p < peerRowStart.length; p++)
        {
            final long offset = activationOffset(peerRowStart[p]);
            final long bytes = (long)peerRowCount[p] * rowBytes;
            if (bytes == 0)
            {
                continue;
            }
            final long host = activations.addressOffset() + offset;
            if (toDevice)
            {
                deviceCopies.toDevice(deviceAddress + offset, host, bytes, bytes, 1);
            }
            else
            {
                deviceCopies.toHost(host, bytes, deviceAddress + offset, bytes, 1);
            }
        }
        deviceCopies.await();
    }

    /** @return bytes per row of activations. */
    public int rowBytes()
    {
        return rowBytes;
    }

    /** @return the activations, (capacityRows, hiddenSize) in {@link #dtype()}, row major. */
    public UnsafeBuffer activations()
    {
        return activations;
    }

    /** @return {@link #activations()}' bytes as a memory segment. */
    public MemorySegment activationMemory()
    {
        return activationMemory;
    }

    /** @return the routing metadata, (capacityRows, 12 bytes), laid out as in the frame. */
    public UnsafeBuffer routing()
    {
        return routing;
    }

    /** @return rows in use: the sum of all peers' rows when the layout has no gaps. */
    public int rowCount()
    {
        return rowCount;
    }

    public RowBatch rowCount(final int rowCount)
    {
        this.rowCount = rowCount;
        return this;
    }

    public int peerRowStart(final int peer)
    {
        return peerRowStart[peer];
    }

    public int peerRowCount(final int peer)
    {
        return peerRowCount[peer];
    }

    /** Give {@code peer} the rows {@code [start, start + count)}. */
    public RowBatch peerRows(final int peer, final int start, final int count)
    {
        if (start < 0 || count < 0 || start > capacityRows - count)
        {
            throw new IllegalArgumentException("rows [" + start + ", " + start + "+" + count + ") of " + capacityRows);
        }
        peerRowStart[peer] = start;
        peerRowCount[peer] = count;
        return this;
    }

    /** Lay out {@code counts[p]} rows per peer back to back from row 0; sets {@link #rowCount()}. */
    public RowBatch layoutContiguous(final int[] counts)
    {
        int start = 0;
        for (int p = 0; p < peerRowStart.length; p++)
        {
            peerRows(p, start, counts[p]);
            start += counts[p];
        }
        rowCount = start;
        return this;
    }

    /** Take {@code other}'s per-peer layout and row count (not its data). */
    public RowBatch copyLayoutFrom(final RowBatch other)
    {
        System.arraycopy(other.peerRowStart, 0, peerRowStart, 0, peerRowStart.length);
        System.arraycopy(other.peerRowCount, 0, peerRowCount, 0, peerRowCount.length);
        rowCount = other.rowCount;
        return this;
    }

    /** @return byte offset of a row in {@link #activations()}. */
    public int activationOffset(final int row)
    {
        return row * rowBytes;
    }

    /** @return byte offset of a row's routing entry in {@link #routing()}. */
    public static int routingOffset(final int row)
    {
        return row * FrameFlyweight.ROUTING_ENTRY_LENGTH;
    }

}
