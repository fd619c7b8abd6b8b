package dev.tandem.transport;

import dev.tandem.core.compute.DeviceCopies;
import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FrameDescriptor;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.NanoClock;

/**
 * Sends messages whose body lies in device memory without a host copy: each message goes out as
 * fragments of at most one MTU that this side claims itself, with Aeron's own BEGIN/END flags so
 * that any reader reassembles them. A message's head (its header, the M2N routing) is written
 * from host memory; the rest is DMA'd from the device straight into the claims, which are
 * committed once their copies are done: by default everything added between two
 * {@link #commitAll}s after one wait; with {@link #COMMIT_CHUNK_BYTES} a chunk at a time while the
 * next chunk's copies run (a reader stops at the first uncommitted claim meanwhile). The term
 * buffers are page-locked as they are met.
 * <p>
 * Used by M2N's Aeron endpoint and the KV transfer's sender; one caller thread. Allocation-free
 * after construction.
 */
public final class DeviceFramePublisher
{
    /**
     * Device bytes committed at a time, each chunk once its DMA is done, so that the reader's copies
     * may overlap with the sender's ({@code tandem.m2n.commitBytes}). By default all of a send at
     * once, after one wait: on the H200, 2×2 at 256 KB a peer, chunks of 16, 32, 64 and 128 KiB gave
     * 3894, 4056, 7377 and 9945 MB/s against 11254 for whole sends (bench/GPU_NOTES.md, session 10):
     * a wait costs more than the overlap gains.
     */
    static final long COMMIT_CHUNK_BYTES = Long.getLong("tandem.m2n.commitBytes", Long.MAX_VALUE);

    /**
     * The head goes in fragments of its own ({@code tandem.m2n.headFragments}, default true), so that
     * every device fragment but the last is a full one: a frame's device bytes then cost two copy
     * calls a side (one strided run and the last fragment) instead of three. On the H200 a 256 KB
     * frame took 13.9 µs to DMA out that way against 16.3, and 15.0 µs in against 18.6
     * (bench/scripts/probe/copycalls.c, bench/GPU_NOTES.md session 12). The bytes on the wire are the
     * same; only where the fragments end moves, which every reader takes as it comes.
     */
    static final boolean HEAD_FRAGMENTS = !"false".equals(System.getProperty("tandem.m2n.headFragments"));

    /** What a claim refused for another reason than back pressure with claims of ours uncommitted does. */
    @FunctionalInterface
    public interface SendFailure
    {
        /** Throws to give up (a lost peer, a timeout), or returns to retry after an idle. */
        void onFailure(int destination, long result, long waitedNs);
    }

    private final TermBufferLocks termLocks;
    private final DeviceCopyRuns runs = new DeviceCopyRuns();
    private final NanoClock clock;
    private final IdleStrategy idle;
    private final SendFailure failure;
    private final BufferClaim[] claims; // two chunks of fragments, claimed before their device bytes are copied in
    private final int chunkFragments;   // fragments committed together, once their copies are done
    private final int[] chunkClaims = new int[2];  // claims taken in each half of claims
    private final long[] chunkMarks = new long[2]; // each half's copies' mark, once it is full
    private int chunk;                             // the half being filled
    private int claimedTermOffset;


    /**
     * @param termLocks  page-locks the terms of the publications, one slot each (a destination)
     * @param maxPayload the publications' {@code maxPayloadLength()}: one fragment's bytes at most
     * @param maxBytes    the most bytes {@link #add}ed between two {@link #commitAll}s
     * @param maxMessages the most messages {@link #add}ed between two {@link #commitAll}s
     */
    public DeviceFramePublisher(
        final TermBufferLocks termLocks, final int maxPayload, final long maxBytes, final int maxMessages,
        final NanoClock clock, final IdleStrategy idle, final SendFailure failure)
    {
        this.termLocks = termLocks;
        this.clock = clock;
        this.idle = idle;
        this.failure = failure;
        final long maxFragments = maxBytes / maxPayload + 2L * maxMessages; // a message's partial head and tail
        this.chunkFragments = (int)Math.max(1, Math.min(maxFragments, COMMIT_CHUNK_BYTES / maxPayload));
        this.claims = new BufferClaim[2 * chunkFragments];
        for (int c = 0; c < claims.length; c++)
        {
            claims[c] = new BufferClaim();
        }
    }

    /**
     * Claims and fills one message of {@code length} bytes: bytes {@code [0, headLength)} from
     * {@code head}, the rest from the device, byte i of the message at {@code onDevice + i}. It is
     * committed by a later {@link #add} or by {@link #commitAll}.
     */
    public void add(
        final ExclusivePublication publication, final int destination, final DeviceCopies copies,
        final DirectBuffer head, final int headLength, final long onDevice, final int length)
    {
        final int maxPayload = publication.maxPayloadLength();
        final int hostLength = Math.min(headLength, length);
        for (int from = 0, fragment; from < length; from += fragment)
        {
            fragment = HEAD_FRAGMENTS && from < hostLength ?
                Math.min(maxPayload, hostLength - from) : Math.min(maxPayload, length - from);
            final BufferClaim claim = claim(publication, destination, fragment, copies);
            final long payload = claim.buffer().addressOffset() + claim.offset();
            final long termBase = claim.buffer().addressOffset() - claimedTermOffset;
            termLocks.publicationTerm(copies, destination, termBase, publication.termBufferLength());
            final int hostBytes = Math.min(fragment, Math.max(0, headLength - from));
            if (hostBytes > 0)
            {
                claim.buffer().putBytes(claim.offset(), head, from, hostBytes);
            }
            if (hostBytes < fragment) // into an unlocked term too: the driver then copies through pageable memory
            {
                runs.add(copies, false, payload + hostBytes, onDevice + from + hostBytes, fragment - hostBytes);
            }
            claim.flags((byte)((from == 0 ? FrameDescriptor.BEGIN_FRAG_FLAG : 0) |
                (from + fragment == length ? FrameDescriptor.END_FRAG_FLAG : 0)));
            if (++chunkClaims[chunk] == chunkFragments)
            {
                endChunk(copies);
            }
        }
    }

    /** Returns once every message added is committed, its copies done. */
    public void commitAll(final DeviceCopies copies)
    {
        endChunk(copies);
        endChunk(copies);
    }

    /** After a failure: waits for the copies, then aborts every claim not yet committed (padding: the logs stay readable). */
    public void abortAll()
    {
        runs.await();
        for (int half = 0; half < 2; half++)
        {
            for (int c = 0; c < chunkClaims[half]; c++)
            {
                claims[half * chunkFragments + c].abort();
            }
            chunkClaims[half] = 0;
        }
    }

    /**
     * Marks the chunk being filled and moves to the other, committing the chunk it held once that
     * one's copies are done. Called twice in a row, everything claimed is committed.
     */
    private void endChunk(final DeviceCopies copies)
    {
        if (chunkClaims[chunk] > 0)
        {
            chunkMarks[chunk] = runs.mark(copies);
        }
        chunk ^= 1;
        final int count = chunkClaims[chunk];
        if (count > 0)
        {
            runs.awaitMark(copies, chunkMarks[chunk]);
            for (int c = 0; c < count; c++)
            {
                claims[chunk * chunkFragments + c].commit();
            }
            chunkClaims[chunk] = 0;
        }
    }

    /**
     * Claims {@code length} bytes, the next claim of the chunk being filled, waiting out back
     * pressure: then what is claimed but uncommitted is committed first, since the reader can make
     * room only up to it. The claim's term offset is left in {@link #claimedTermOffset}.
     */
    private BufferClaim claim(
        final ExclusivePublication publication, final int destination, final int length, final DeviceCopies copies)
    {
        final long startNs = clock.nanoTime();
        idle.reset();
        while (true)
        {
            final BufferClaim claim = claims[chunk * chunkFragments + chunkClaims[chunk]];
            final int termOffset = publication.termOffset();
            final long result = publication.tryClaim(length, claim);
            if (result > 0)
            {
                claimedTermOffset = termOffset;
                return claim;
            }
            if (result == Publication.BACK_PRESSURED && (chunkClaims[0] > 0 || chunkClaims[1] > 0))
            {
                commitAll(copies);
                continue;
            }
            failure.onFailure(destination, result, clock.nanoTime() - startNs);
            idle.idle();
        }
    }
}
