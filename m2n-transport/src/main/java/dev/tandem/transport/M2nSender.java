package dev.tandem.transport;

/**
 * The attention side of M2N: sends one micro-batch to each of the N expert nodes and gathers
 * their results. Implementations: Aeron (IPC and UDP), in-process; a Netty/TCP baseline fits
 * the same contract. Not thread safe: one thread drives one sender.
 * <p>
 * Frames for one receiver leave in call order, so a receiver sees a sender's
 * (step, layer, micro-batch) keys in the order this side sent them.
 */
public interface M2nSender extends AutoCloseable
{
    /** @return this sender's id, 0..M-1. */
    int senderId();

    /** @return N, the number of receivers. */
    int receiverCount();

    /**
     * Send to every receiver {@code r} the rows {@code [batch.peerRowStart(r), + batch.peerRowCount(r))},
     * with their routing metadata. A receiver with no rows gets an empty frame so that it
     * never waits on a timeout.
     *
     * @throws BackPressureException if a receiver stays back-pressured past the send timeout.
     * @throws PeerLostException     if a receiver is not connected within the peer timeout.
     */
    void send(long step, int layer, int microBatch, RowBatch batch);

    /**
     * Gather the results of an earlier {@link #send}: receiver {@code r}'s rows land at
     * {@code [into.peerRowStart(r), + into.peerRowCount(r))}, which the caller has set (usually by
     * passing the batch it sent, so results overwrite the inputs in place).
     *
     * @throws PeerLostException if a receiver disappears or sends nothing before the receive timeout.
     */
    void receiveResults(long step, int layer, int microBatch, RowBatch into);

    /** @return counts of result frames accepted and dropped. */
    TransportCounters counters();

    /** A new cluster epoch: frames are stamped with it and frames of other epochs are dropped. */
    void epoch(long epoch);

    @Override
    void close();
}
