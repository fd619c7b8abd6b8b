package dev.tandem.transport;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.DeviceCopies;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A "device" in host memory for the transport's device paths: copies are only queued until
 * {@link #await} (or the {@link #awaitMark} of a mark taken after them), as a real device's DMAs run later, so a transport that reads or gives back
 * memory before awaiting its copies sees stale bytes. Registrations are counted, and can be
 * refused, so that tests see what the transport locks and unlocks. As CUDA's driver does, a strided
 * copy that starts in page-locked memory must stay inside that one range.
 */
public final class FakeDeviceCopies implements DeviceCopies
{
    private final boolean refuseRegistration;
    private final List<ByteBuffer> deviceMemory = new ArrayList<>();
    private final List<long[]> queued = new ArrayList<>(); // {dst, dstPitch, src, srcPitch, width, rows}
    private final Map<Long, Integer> registered = new HashMap<>(); // address → times
    private final Map<Long, Long> registeredBytes = new HashMap<>(); // address → bytes
    private int registrations;
    private int copyCalls;
    private long landed; // copies done so far

    public FakeDeviceCopies(final boolean refuseRegistration)
    {
        this.refuseRegistration = refuseRegistration;
    }

    /** Device memory for {@code batch}'s activations, and the batch moved onto it. */
    RowBatch place(final RowBatch batch)
    {
        final ByteBuffer memory = ByteBuffer.allocateDirect(Math.max(64, batch.capacityRows() * batch.rowBytes()));
        deviceMemory.add(memory);
        batch.onDevice(this, new UnsafeBuffer(memory).addressOffset());
        return batch;
    }

    @Override
    public boolean register(final long address, final long bytes)
    {
        if (refuseRegistration)
        {
            return false;
        }
        registrations++;
        registered.merge(address, 1, Integer::sum);
        registeredBytes.put(address, bytes);
        return true;
    }

    @Override
    public void unregister(final long address, final long bytes)
    {
        registered.computeIfPresent(address, (a, n) -> n == 1 ? null : n - 1);
    }

    /** @return ranges registered now, each counted as often as it was registered. */
    public int outstanding()
    {
        return registered.values().stream().mapToInt(Integer::intValue).sum();
    }

    public int registrations()
    {
        return registrations;
    }

    public int copyCalls()
    {
        return copyCalls;
    }

    @Override
    public long address(final Activations rows)
    {
        throw new UnsupportedOperationException("the transport never asks");
    }

    @Override
    public void afterCompute()
    {
    }

    private void checkOneRange(final long host, final long hostPitch, final long width, final int rows)
    {
        final long end = host + (rows - 1) * hostPitch + width;
        for (final Map.Entry<Long, Long> range : registeredBytes.entrySet())
        {
            final long start = range.getKey();
            if (registered.containsKey(start) && host >= start && host < start + range.getValue() &&
                end > start + range.getValue())
            {
                throw new IllegalArgumentException("a strided copy leaves the page-locked range it starts in: [0x" +
                    Long.toHexString(host) + ", 0x" + Long.toHexString(end) + ")");
            }
        }
    }

    @Override
    public void toHost(final long host, final long hostPitch, final long device, final long width, final int rows)
    {
        checkOneRange(host, hostPitch, width, rows);
        queued.add(new long[]{host, hostPitch, device, width, width, rows});
        copyCalls++;
    }

    @Override
    public void toDevice(final long device, final long host, final long hostPitch, final long width, final int rows)
    {
        checkOneRange(host, hostPitch, width, rows);
        queued.add(new long[]{device, width, host, hostPitch, width, rows});
        copyCalls++;
    }

    @Override
    public void await()
    {
        land(queued.size());
    }

    /** The copies queued so far: {@link #awaitMark} lands those, and only those. */
    @Override
    public long mark()
    {
        return landed + queued.size();
    }

    @Override
    public void awaitMark(final long mark)
    {
        land((int)Math.max(0, mark - landed));
    }

    private void land(final int copies)
    {
        for (int i = 0; i < copies; i++)
        {
            final long[] c = queued.remove(0);
            for (int r = 0; r < c[5]; r++)
            {
                MemorySegment.copy(MemorySegment.ofAddress(c[2] + r * c[3]).reinterpret(c[4]), 0,
                    MemorySegment.ofAddress(c[0] + r * c[1]).reinterpret(c[4]), 0, c[4]);
            }
        }
        landed += copies;
    }

    @Override
    public void close()
    {
        queued.clear();
    }
}
