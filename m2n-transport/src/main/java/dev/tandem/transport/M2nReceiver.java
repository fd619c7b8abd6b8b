package dev.tandem.transport;

/**
 * The expert side of M2N: gathers, for one (step, layer, micro-batch), the frames of all M
 * senders into one buffer, then replies to each sender with its rows. Not thread safe: one
 * thread drives one receiver.
 */
public interface M2nReceiver extends AutoCloseable
{
    /** @return this receiver's id, 0..N-1. */
    int receiverId();

    /** @return M, the number of senders. */
    int senderCount();

    /**
     * Gather one frame from every sender into {@code into}: rows of all senders concatenated
     * in arrival order, sender {@code s} at {@code [into.peerRowStart(s), + into.peerRowCount(s))},
     * {@code into.rowCount()} in total. Frames that fail validation are dropped and counted.
     *
     * @throws PeerLostException naming the sender if one disappears, or sends nothing for this
     *                           key before the receive timeout.
     */
    void receive(long step, int layer, int microBatch, RowBatch into);

    /**
     * Send each sender {@code s} its result rows {@code [results.peerRowStart(s), + results.peerRowCount(s))}
     * with their routing metadata (echoed back so that the sender can combine by slot).
     * Pass the gathered batch (results computed in place) or one with its layout copied.
     *
     * @throws BackPressureException if a sender stays back-pressured past the send timeout.
     * @throws PeerLostException     if a sender is not connected within the peer timeout.
     */
    void reply(long step, int layer, int microBatch, RowBatch results);

    /** @return counts of frames accepted and dropped. */
    TransportCounters counters();

    /** A new cluster epoch: frames are stamped with it and frames of other epochs are dropped. */
    void epoch(long epoch);

    @Override
    void close();
}
