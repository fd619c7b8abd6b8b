package dev.tandem.transport;

import dev.tandem.core.compute.DeviceCopies;

import java.util.function.Consumer;

/**
 * The term buffers of an endpoint's Aeron logs, page-locked for DMA as its device rows first
 * meet them: up to three terms a publication (one per peer) and three an image (one per peer).
 * A registration lives as long as the log it covers: an image's are undone when the endpoint
 * sees the image go (Aeron keeps a closed image's log mapped a while longer), all of them at
 * {@link #close}, before the publications and subscription close. One refusal ends the tries:
 * the endpoint then moves device rows another way (M2N: through the batch's pinned staging rows),
 * and says so. Used by M2N's Aeron endpoint and the KV transfer; one caller thread.
 */
public final class TermBufferLocks
{
    private static final int TERMS = 3;

    private final long[][] publicationTerms; // (peers, 3) term base addresses, 0 when none
    private final long[][] imageTerms;       // (peers, 3)
    private final long[][] imageTermLengths; // (peers, 3)
    private final long[] publicationTermLength; // (peers)
    private final Consumer<String> log;
    private final String fallback;
    private DeviceCopies copies;
    private boolean refused;
    private boolean said;

    /** For M2N: refused, device rows go through the batches' pinned staging rows. */
    TermBufferLocks(final int peers, final Consumer<String> log)
    {
        this(peers, log, "device rows go through the batches' pinned staging rows");
    }

    /**
     * @param peers    the publications and images, one slot each
     * @param fallback what the caller does instead once locking is refused, for the log line
     */
    public TermBufferLocks(final int peers, final Consumer<String> log, final String fallback)
    {
        this.fallback = fallback;
        this.publicationTerms = new long[peers][TERMS];
        this.imageTerms = new long[peers][TERMS];
        this.imageTermLengths = new long[peers][TERMS];
        this.publicationTermLength = new long[peers];
        this.log = log;
    }

    /** @return false once a registration was refused: device rows then go through staging. */
    public boolean usable()
    {
        return !refused;
    }

    /** @return whether the term of {@code peer}'s publication at {@code base} is page-locked (locking it now if new). */
    public boolean publicationTerm(final DeviceCopies copies, final int peer, final long base, final int termLength)
    {
        publicationTermLength[peer] = termLength;
        return lock(copies, publicationTerms[peer], null, base, termLength);
    }

    /** @return whether the term of {@code peer}'s image at {@code base} is page-locked (locking it now if new). */
    public boolean imageTerm(final DeviceCopies copies, final int peer, final long base, final int termLength)
    {
        return lock(copies, imageTerms[peer], imageTermLengths[peer], base, termLength);
    }

    /** {@code peer}'s image went away: undo its terms' registrations while its log is still mapped. */
    public void imageGone(final int peer)
    {
        for (int t = 0; t < TERMS; t++)
        {
            if (imageTerms[peer][t] != 0)
            {
                copies.unregister(imageTerms[peer][t], imageTermLengths[peer][t]);
                imageTerms[peer][t] = 0;
            }
        }
    }

    private boolean lock(
        final DeviceCopies copies, final long[] terms, final long[] lengths, final long base, final int termLength)
    {
        int free = -1;
        for (int t = 0; t < TERMS; t++)
        {
            if (terms[t] == base)
            {
                return true;
            }
            if (terms[t] == 0 && free < 0)
            {
                free = t;
            }
        }
        if (this.copies == null)
        {
            this.copies = copies;
        }
        else if (copies != this.copies)
        {
            throw new IllegalArgumentException("one M2N endpoint moves the device rows of one set of device copies");
        }
        if (refused || free < 0)
        {
            return false; // a fourth term base cannot be: an image replaced without imageGone
        }
        if (!copies.register(base, termLength))
        {
            refused = true;
            log.accept("cannot page-lock Aeron's term buffer at 0x" + Long.toHexString(base) + " (" + termLength +
                " B); " + fallback);
            return false;
        }
        terms[free] = base;
        if (lengths != null)
        {
            lengths[free] = termLength;
        }
        if (!said)
        {
            said = true;
            log.accept("device rows go by DMA straight into and out of Aeron's term buffers (page-locked)");
        }
        return true;
    }

    /** Undo every registration; the logs must still be mapped. */
    public void close()
    {
        if (copies == null)
        {
            return;
        }
        for (int p = 0; p < publicationTerms.length; p++)
        {
            for (int t = 0; t < TERMS; t++)
            {
                if (publicationTerms[p][t] != 0)
                {
                    copies.unregister(publicationTerms[p][t], publicationTermLength[p]);
                    publicationTerms[p][t] = 0;
                }
            }
            imageGone(p);
        }
    }
}
