package dev.tandem.transport;

/**
 * Outcome of checking a received frame. Every value but {@link #VALID} is a reason to drop
 * the frame; {@link TransportCounters} counts drops per reason.
 */
public enum FrameCheck
{
    VALID,
    /** Fewer bytes than a header. */
    TOO_SHORT,
    BAD_MAGIC,
    BAD_VERSION,
    /** A combine frame on the dispatch path or the other way round. */
    BAD_TYPE,
    /** Cluster epoch differs from this node's: the sender has an old view of the cluster. */
    BAD_EPOCH,
    BAD_DTYPE,
    /** Hidden size differs from the receiving buffer's. */
    BAD_HIDDEN_SIZE,
    /** Sender id out of range, or not the peer that the stream belongs to. */
    BAD_SENDER,
    /** Negative, or more tokens than a peer may send. */
    BAD_TOKEN_COUNT,
    /** Payload length is not routing + tokens x hidden x dtype bytes. */
    BAD_PAYLOAD_LENGTH,
    /** The frame's declared length differs from the bytes that arrived. */
    LENGTH_MISMATCH,
    RESERVED_NOT_ZERO,
    /** A frame for a (step, layer, micro-batch) that this node has already finished. */
    STALE,
    /** A result frame whose token count differs from the rows that were sent to that peer. */
    ROW_COUNT_MISMATCH,
    /** The gather buffer has no room for the frame's rows. */
    NO_CAPACITY,
    /** A stream from a publisher that is not one of the configured peers. */
    UNKNOWN_PEER,
    /** A TCP hello whose signature of the receiver's challenge is not the cluster token's. */
    UNAUTHENTICATED
}
