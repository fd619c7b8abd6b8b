package dev.tandem.transport;

import org.agrona.BitUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * Flyweight over one M2N frame: a fixed header, the routing metadata of each token, then
 * the activations. All fields are little-endian; every field sits at an offset that is a
 * multiple of its size, and the activations start 16-byte aligned relative to the frame.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                     Magic 0x4E324D54 "TM2N"                   |  0
 *  +-------------------------------+---------------+---------------+
 *  |            Version            |     Type      |     Dtype     |  4
 *  +-------------------------------+---------------+---------------+
 *  |                        Cluster Epoch (64)                     |  8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                         Decode Step (64)                      | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                             Layer                             | 24
 *  +-------------------------------+-------------------------------+
 *  |          Micro-batch          |           Sender Id           | 28
 *  +-------------------------------+-------------------------------+
 *  |                          Token Count                          | 32
 *  +---------------------------------------------------------------+
 *  |                          Hidden Size                          | 36
 *  +---------------------------------------------------------------+
 *  |                 Payload Length (bytes after header)           | 40
 *  +---------------------------------------------------------------+
 *  |                         Reserved (0)                          | 44
 *  +---------------------------------------------------------------+
 *  |  Routing: Token Count x { Slot int32, Expert int32, Gate f32 } | 48
 *  |  ... zero padding to a multiple of 16 bytes                  ...
 *  +---------------------------------------------------------------+
 *  |  Activations: (Token Count, Hidden Size) in Dtype, row major ...
 *  +---------------------------------------------------------------+
 * </pre>
 * Payload Length = align16(12 x tokens) + tokens x hidden x dtype bytes; the frame is
 * {@link #HEADER_LENGTH} + Payload Length bytes.
 */
public final class FrameFlyweight
{
    public static final int MAGIC = 0x4E324D54;
    public static final short CURRENT_VERSION = 1;
    public static final byte TYPE_DISPATCH = 1; // attention -> expert
    public static final byte TYPE_COMBINE = 2;  // expert -> attention

    public static final int MAGIC_FIELD_OFFSET = 0;
    public static final int VERSION_FIELD_OFFSET = 4;
    public static final int TYPE_FIELD_OFFSET = 6;
    public static final int DTYPE_FIELD_OFFSET = 7;
    public static final int EPOCH_FIELD_OFFSET = 8;
    public static final int STEP_FIELD_OFFSET = 16;
    public static final int LAYER_FIELD_OFFSET = 24;
    public static final int MICRO_BATCH_FIELD_OFFSET = 28;
    public static final int SENDER_ID_FIELD_OFFSET = 30;
    public static final int TOKEN_COUNT_FIELD_OFFSET = 32;
    public static final int HIDDEN_SIZE_FIELD_OFFSET = 36;
    public static final int PAYLOAD_LENGTH_FIELD_OFFSET = 40;
    public static final int RESERVED_FIELD_OFFSET = 44;
    public static final int HEADER_LENGTH = 48;

    public static final int SLOT_FIELD_OFFSET = 0;
    public static final int EXPERT_FIELD_OFFSET = 4;
    public static final int GATE_FIELD_OFFSET = 8;
    public static final int ROUTING_ENTRY_LENGTH = 12;
    public static final int ROUTING_ALIGNMENT = 16;

    private DirectBuffer buffer;
    private MutableDirectBuffer mutableBuffer;
    private int offset;

    /** Wrap a frame for reading only; the setters then fail, which is what a receiver wants. */
    public FrameFlyweight wrap(final DirectBuffer buffer, final int offset)
    {
        this.buffer = buffer;
        this.mutableBuffer = null;
        this.offset = offset;
        return this;
    }

    /** Wrap a frame for reading and writing. */
    public FrameFlyweight wrap(final MutableDirectBuffer buffer, final int offset)
    {
        this.buffer = buffer;
        this.mutableBuffer = buffer;
        this.offset = offset;
        return this;
    }

    public int offset()
    {
        return offset;
    }

    /** @return bytes of the routing section including padding. */
    public static int routingSectionLength(final int tokenCount)
    {
        return BitUtil.align(tokenCount * ROUTING_ENTRY_LENGTH, ROUTING_ALIGNMENT);
    }

    /** @return payload length for a frame of this shape, as a long so that a hostile shape cannot overflow. */
    public static long payloadLength(final int tokenCount, final int hiddenSize, final Dtype dtype)
    {
        return routingSectionLength(tokenCount) + (long)tokenCount * hiddenSize * dtype.bytes();
    }

    /** @return total frame length in bytes for a frame of this shape. */
    public static long frameLength(final int tokenCount, final int hiddenSize, final Dtype dtype)
    {
        return HEADER_LENGTH + payloadLength(tokenCount, hiddenSize, dtype);
    }

    /** @return offset of the activations relative to the frame start. */
    public static int activationsOffset(final int tokenCount)
    {
        return HEADER_LENGTH + routingSectionLength(tokenCount);
    }

    public int magic()
    {
        return buffer.getInt(offset + MAGIC_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight magic(final int magic)
    {
        mutableBuffer.putInt(offset + MAGIC_FIELD_OFFSET, magic, LITTLE_ENDIAN);
        return this;
    }

    public short version()
    {
        return buffer.getShort(offset + VERSION_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight version(final short version)
    {
        mutableBuffer.putShort(offset + VERSION_FIELD_OFFSET, version, LITTLE_ENDIAN);
        return this;
    }

    public byte type()
    {
        return buffer.getByte(offset + TYPE_FIELD_OFFSET);
    }

    public FrameFlyweight type(final byte type)
    {
        mutableBuffer.putByte(offset + TYPE_FIELD_OFFSET, type);
        return this;
    }

    public byte dtypeCode()
    {
        return buffer.getByte(offset + DTYPE_FIELD_OFFSET);
    }

    public FrameFlyweight dtypeCode(final byte code)
    {
        mutableBuffer.putByte(offset + DTYPE_FIELD_OFFSET, code);
        return this;
    }

    public long epoch()
    {
        return buffer.getLong(offset + EPOCH_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight epoch(final long epoch)
    {
        mutableBuffer.putLong(offset + EPOCH_FIELD_OFFSET, epoch, LITTLE_ENDIAN);
        return this;
    }

    public long step()
    {
        return buffer.getLong(offset + STEP_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight step(final long step)
    {
        mutableBuffer.putLong(offset + STEP_FIELD_OFFSET, step, LITTLE_ENDIAN);
        return this;
    }

    public int layer()
    {
        return buffer.getInt(offset + LAYER_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight layer(final int layer)
    {
        mutableBuffer.putInt(offset + LAYER_FIELD_OFFSET, layer, LITTLE_ENDIAN);
        return this;
    }

    /** @return micro-batch index, unsigned 16 bits. */
    public int microBatch()
    {
        return buffer.getShort(offset + MICRO_BATCH_FIELD_OFFSET, LITTLE_ENDIAN) & 0xFFFF;
    }

    public FrameFlyweight microBatch(final int microBatch)
    {
        mutableBuffer.putShort(offset + MICRO_BATCH_FIELD_OFFSET, (short)microBatch, LITTLE_ENDIAN);
        return this;
    }

    /** @return sender id, unsigned 16 bits. */
    public int senderId()
    {
        return buffer.getShort(offset + SENDER_ID_FIELD_OFFSET, LITTLE_ENDIAN) & 0xFFFF;
    }

    public FrameFlyweight senderId(final int senderId)
    {
        mutableBuffer.putShort(offset + SENDER_ID_FIELD_OFFSET, (short)senderId, LITTLE_ENDIAN);
        return this;
    }

    public int tokenCount()
    {
        return buffer.getInt(offset + TOKEN_COUNT_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight tokenCount(final int tokenCount)
    {
        mutableBuffer.putInt(offset + TOKEN_COUNT_FIELD_OFFSET, tokenCount, LITTLE_ENDIAN);
        return this;
    }

    public int hiddenSize()
    {
        return buffer.getInt(offset + HIDDEN_SIZE_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight hiddenSize(final int hiddenSize)
    {
        mutableBuffer.putInt(offset + HIDDEN_SIZE_FIELD_OFFSET, hiddenSize, LITTLE_ENDIAN);
        return this;
    }

    public int payloadLength()
    {
        return buffer.getInt(offset + PAYLOAD_LENGTH_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight payloadLength(final int payloadLength)
    {
        mutableBuffer.putInt(offset + PAYLOAD_LENGTH_FIELD_OFFSET, payloadLength, LITTLE_ENDIAN);
        return this;
    }

    public int reserved()
    {
        return buffer.getInt(offset + RESERVED_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public FrameFlyweight reserved(final int reserved)
    {
        mutableBuffer.putInt(offset + RESERVED_FIELD_OFFSET, reserved, LITTLE_ENDIAN);
        return this;
    }

    /**
     * Write a complete header for a frame of this shape; the routing and activations follow
     * at {@link #HEADER_LENGTH} and {@link #activationsOffset(int)}.
     */
    public FrameFlyweight writeHeader(
        final byte type, final long epoch, final long step, final int layer, final int microBatch,
        final int senderId, final int tokenCount, final int hiddenSize, final Dtype dtype)
    {
        return magic(MAGIC)
            .version(CURRENT_VERSION)
            .type(type)
            .dtypeCode(dtype.code())
            .epoch(epoch)
            .step(step)
            .layer(layer)
            .microBatch(microBatch)
            .senderId(senderId)
            .tokenCount(tokenCount)
            .hiddenSize(hiddenSize)
            .payloadLength((int)payloadLength(tokenCount, hiddenSize, dtype))
            .reserved(0);
    }

    /** @return the frame's bytes as a buffer, for callers that only read. */
    public DirectBuffer buffer()
    {
        return buffer;
    }
}
