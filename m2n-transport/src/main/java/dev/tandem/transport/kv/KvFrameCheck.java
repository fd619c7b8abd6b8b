package dev.tandem.transport.kv;

/**
 * Outcome of checking a received KV frame. Every value but {@link #VALID} is a reason to drop
 * it; {@link KvTransferReceiver#count} counts drops per reason.
 */
public enum KvFrameCheck
{
    VALID,
    /** Fewer bytes than a header. */
    TOO_SHORT,
    BAD_MAGIC,
    BAD_VERSION,
    /** An unknown dtype code. */
    BAD_DTYPE,
    /** Unknown flag bits. */
    BAD_FLAGS,
    /** Layers differ from the receiving model's, or the layer is outside them. */
    BAD_LAYER,
    /** Kv dim differs from the receiving model's kvHeads · headDim. */
    BAD_KV_DIM,
    /** Rows outside [1, max tokens per message], or rows on a transfer's last message. */
    BAD_TOKEN_COUNT,
    /** Negative first position, or past the largest int with the rows. */
    BAD_POSITION,
    /** Payload length is not 2 · tokens · kvDim · dtype bytes. */
    BAD_PAYLOAD_LENGTH,
    /** The frame's declared length differs from the bytes that arrived. */
    LENGTH_MISMATCH,
    RESERVED_NOT_ZERO,
    /**
     * A well-formed frame in a dtype other than the receiving cache's (bf16 against fp32): the rows are
     * not converted, and the transfer fails with a reason naming both.
     */
    DTYPE_MISMATCH,
    /** Rows of a transfer that the sink refused earlier (e.g. no blocks reserved for it). */
    REFUSED_BY_SINK,
    /** A last message whose transfer's rows do not add up to every layer of every position. */
    INCOMPLETE_TRANSFER
}
