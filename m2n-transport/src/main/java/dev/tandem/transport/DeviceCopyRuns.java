package dev.tandem.transport;

import dev.tandem.core.compute.DeviceCopies;

/**
 * Queues the copies of a message's pieces between device rows and a log, merging pieces of the
 * same width that lie one header apart in the log and back to back on the device (a message's
 * middle fragments) into one strided copy: a frame of any size costs about three copy calls. A run
 * never spans more than a header between pieces: across a term boundary the driver would see host
 * memory of two page-locked ranges in one copy, which it refuses.
 * Allocation-free; one per endpoint side.
 */
public final class DeviceCopyRuns
{
    private static final int MAX_GAP = 64; // an Aeron frame header (32 B) and its alignment, at most


    private DeviceCopies copies;
    private boolean toDevice;
    private long host;   // first piece's host address
    private long device; // first piece's device address
    private long width;  // bytes a piece
    private long pitch;  // host bytes from one piece to the next
    private int pieces;  // in the pending run; 0 when none
    private int queued;  // copy calls since the last await
    private long lastMark = -1;

    /** Queue {@code bytes} between host {@code host} and device {@code device}, in the direction given. */
    public void add(final DeviceCopies copies, final boolean toDevice, final long host, final long device, final long bytes)
    {
        if (pieces > 0 && copies == this.copies && toDevice == this.toDevice && bytes == width &&
            device == this.device + pieces * width && continuesRun(host))
        {
            pieces++;
            return;
        }
        flush();
        this.copies = copies;
        this.toDevice = toDevice;
        this.host = host;
        this.device = device;
        this.width = bytes;
        this.pitch = bytes;
        this.pieces = 1;
    }

    private boolean continuesRun(final long nextHost)
    {
        if (pieces == 1)
        {
            if (nextHost - host < width || nextHost - host - width > MAX_GAP)
            {
                return false; // overlapping, or farther than one header: another term, another page-locked range
            }
            pitch = nextHost - host;
            return true;
        }
        return nextHost == host + pieces * pitch;
    }

    /** Hand the pending run to the copies. */
    public void flush()
    {
        if (pieces == 0)
        {
            return;
        }
        if (toDevice)
        {
            copies.toDevice(device, host, pitch, width, pieces);
        }
        else
        {
            copies.toHost(host, pitch, device, width, pieces);
        }
        pieces = 0;
        queued++;
        lastMark = -1;
    }

    /** Returns once everything added so far is copied. */
    public void await()
    {
        flush();
        if (queued > 0)
        {
            copies.await();
            queued = 0;
        }
    }

    /** Hands the pending run to {@code copies} and @return a mark behind everything added so far ({@link DeviceCopies#mark}). */
    public long mark(final DeviceCopies copies)
    {
        flush();
        lastMark = copies.mark();
        return lastMark;
    }

    /** Returns once everything added before {@code mark} is copied. */
    public void awaitMark(final DeviceCopies copies, final long mark)
    {
        copies.awaitMark(mark);
        if (mark == lastMark && pieces == 0)
        {
            queued = 0; // nothing was queued after it
        }
    }

    /** @return whether anything added is not yet known to be copied. */
    public boolean hasPending()
    {
        return pieces > 0 || queued > 0;
    }
}
