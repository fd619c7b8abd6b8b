package dev.tandem.transport;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Counts of frames accepted and dropped, per reason. Written by the one thread that polls an
 * endpoint, readable from any thread (metrics, tests). Incrementing allocates nothing.
 */
public final class TransportCounters
{
    private static final FrameCheck[] CHECKS = FrameCheck.values();

    private final AtomicLongArray byCheck = new AtomicLongArray(CHECKS.length);

    /** Count one frame with this outcome; {@link FrameCheck#VALID} counts an accepted frame. */
    public void increment(final FrameCheck check)
    {
        byCheck.getAndIncrement(check.ordinal());
    }

    /** @return frames with this outcome so far. */
    public long get(final FrameCheck check)
    {
        return byCheck.get(check.ordinal());
    }

    /** @return frames accepted so far. */
    public long accepted()
    {
        return byCheck.get(FrameCheck.VALID.ordinal());
    }

    /** @return frames dropped so far, all reasons together. */
    public long rejected()
    {
        long total = 0;
        for (int i = 1; i < CHECKS.length; i++)
        {
            total += byCheck.get(i);
        }
        return total;
    }

    /** The drops by reason, for an error message: {@code BAD_DTYPE=3 (…), STALE=1}. */
    public String reasons()
    {
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < CHECKS.length; i++)
        {
            final long value = byCheck.get(i);
            if (value != 0)
            {
                sb.append(sb.isEmpty() ? "" : ", ").append(CHECKS[i]).append('=').append(value);
                if (CHECKS[i] == FrameCheck.BAD_DTYPE)
                {
                    sb.append(" (the sender's wire_dtype is not this node's)");
                }
                else if (CHECKS[i] == FrameCheck.BAD_EPOCH)
                {
                    sb.append(" (the sender runs another cluster epoch)");
                }
            }
        }
        return sb.toString();
    }

    @Override
    public String toString()
    {
        final StringBuilder sb = new StringBuilder("TransportCounters{");
        for (int i = 0; i < CHECKS.length; i++)
        {
            final long value = byCheck.get(i);
            if (value != 0)
            {
                sb.append(CHECKS[i]).append('=').append(value).append(' ');
            }
        }
        return sb.append('}').toString();
    }
}
