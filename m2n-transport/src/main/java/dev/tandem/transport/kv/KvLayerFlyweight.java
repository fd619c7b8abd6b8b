package dev.tandem.transport.kv;

import dev.tandem.transport.Dtype;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * Flyweight over one KV transfer message: one layer's keys and values for a contiguous run of
 * positions of one transfer (one request moving from a prompt machine to a token machine). All
 * fields are little-endian at offsets that are multiples of their size; the keys start 16-byte
 * aligned relative to the frame.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                     Magic 0x564B4D54 "TMKV"                   |  0
 *  +-------------------------------+---------------+---------------+
 *  |            Version            |     Dtype     |     Flags     |  4
 *  +-------------------------------+---------------+---------------+
 *  |                         Transfer Id (64)                      |  8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                             Layer                             | 16
 *  +---------------------------------------------------------------+
 *  |                         Layers (total)                        | 20
 *  +---------------------------------------------------------------+
 *  |                         First Position                        | 24
 *  +---------------------------------------------------------------+
 *  |                          Token Count                          | 28
 *  +---------------------------------------------------------------+
 *  |                  Kv Dim (kvHeads x headDim)                   | 32
 *  +---------------------------------------------------------------+
 *  |                First Token (on the last message)              | 36
 *  +---------------------------------------------------------------+
 *  |                 Payload Length (bytes after header)           | 40
 *  +---------------------------------------------------------------+
 *  |                         Reserved (0)                          | 44
 *  +---------------------------------------------------------------+
 *  |  Keys: (Token Count, Kv Dim) in Dtype, row major             ... 48
 *  +---------------------------------------------------------------+
 *  |  Values: (Token Count, Kv Dim) in Dtype, row major           ...
 *  +---------------------------------------------------------------+
 * </pre>
 * Dtype is the element type of the caches at both ends (bf16 or fp32): rows travel as the prompt
 * machine's cache holds them, byte for byte (little-endian, as every host Tandem runs on stores
 * them), and the token machine takes only its own cache's type. Payload Length = 2 x tokens x
 * kvDim x dtype bytes. A transfer is every layer of positions
 * [0, n), sent in any number of such messages (prefill is chunked: layer l of chunk c), then one
 * message with {@link #FLAG_LAST}, no rows, First Position = n and the First Token that the
 * prompt machine sampled: it is only known after the last layer, and the receiver needs it to
 * decode on.
 */
public final class KvLayerFlyweight
{
    public static final int MAGIC = 0x564B4D54;
    public static final short CURRENT_VERSION = 1;
    /** The transfer's last message: no rows; First Position is the transfer's positions. */
    public static final byte FLAG_LAST = 0x1;
    public static final byte KNOWN_FLAGS = FLAG_LAST;

    public static final int MAGIC_FIELD_OFFSET = 0;
    public static final int VERSION_FIELD_OFFSET = 4;
    public static final int DTYPE_FIELD_OFFSET = 6;
    public static final int FLAGS_FIELD_OFFSET = 7;
    public static final int TRANSFER_ID_FIELD_OFFSET = 8;
    public static final int LAYER_FIELD_OFFSET = 16;
    public static final int LAYERS_FIELD_OFFSET = 20;
    public static final int FIRST_POSITION_FIELD_OFFSET = 24;
    public static final int TOKEN_COUNT_FIELD_OFFSET = 28;
    public static final int KV_DIM_FIELD_OFFSET = 32;
    public static final int FIRST_TOKEN_FIELD_OFFSET = 36;
    public static final int PAYLOAD_LENGTH_FIELD_OFFSET = 40;
    public static final int RESERVED_FIELD_OFFSET = 44;
    public static final int HEADER_LENGTH = 48;
    public static final int KEYS_OFFSET = HEADER_LENGTH;

    private DirectBuffer buffer;
    private MutableDirectBuffer mutableBuffer;
    private int offset;

    /** Wrap a frame for reading only. */
    public KvLayerFlyweight wrap(final DirectBuffer buffer, final int offset)
    {
        this.buffer = buffer;
        this.mutableBuffer = null;
        this.offset = offset;
        return this;
    }

    /** Wrap a frame for reading and writing. */
    public KvLayerFlyweight wrap(final MutableDirectBuffer buffer, final int offset)
    {
        this.buffer = buffer;
        this.mutableBuffer = buffer;
        this.offset = offset;
        return this;
    }

    /** @return payload bytes for this shape, as a long so that a hostile shape cannot overflow. */
    public static long payloadLength(final int tokenCount, final int kvDim, final Dtype dtype)
    {
        return 2L * tokenCount * kvDim * dtype.bytes();
    }

    /** @return the whole frame's bytes for this shape. */
    public static long frameLength(final int tokenCount, final int kvDim, final Dtype dtype)
    {
        return HEADER_LENGTH + payloadLength(tokenCount, kvDim, dtype);
    }

    /** @return offset of the values relative to the frame start. */
    public static int valuesOffset(final int tokenCount, final int kvDim, final Dtype dtype)
    {
        return HEADER_LENGTH + tokenCount * kvDim * dtype.bytes();
    }

    /**
     * Write a complete header; the keys and values follow at {@link #KEYS_OFFSET} and
     * {@link #valuesOffset}.
     */
    public KvLayerFlyweight writeHeader(
        final long transferId, final int layer, final int layers, final int firstPosition, final int tokenCount,
        final int kvDim, final Dtype dtype, final byte flags, final int firstToken)
    {
        mutableBuffer.putInt(offset + MAGIC_FIELD_OFFSET, MAGIC, LITTLE_ENDIAN);
        mutableBuffer.putShort(offset + VERSION_FIELD_OFFSET, CURRENT_VERSION, LITTLE_ENDIAN);
        mutableBuffer.putByte(offset + DTYPE_FIELD_OFFSET, dtype.code());
        mutableBuffer.putByte(offset + FLAGS_FIELD_OFFSET, flags);
        mutableBuffer.putLong(offset + TRANSFER_ID_FIELD_OFFSET, transferId, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + LAYER_FIELD_OFFSET, layer, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + LAYERS_FIELD_OFFSET, layers, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + FIRST_POSITION_FIELD_OFFSET, firstPosition, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + TOKEN_COUNT_FIELD_OFFSET, tokenCount, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + KV_DIM_FIELD_OFFSET, kvDim, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + FIRST_TOKEN_FIELD_OFFSET, firstToken, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + PAYLOAD_LENGTH_FIELD_OFFSET, (int)payloadLength(tokenCount, kvDim, dtype),
            LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + RESERVED_FIELD_OFFSET, 0, LITTLE_ENDIAN);
        return this;
    }

    /**
     * Check every field of the wrapped frame of {@code length} bytes against what this receiver
     * takes: {@code cacheDtype} is the dtype its cache holds. Nothing past the header is read unless
     * the header says it is there. A frame that is well formed in the other known dtype is
     * {@link KvFrameCheck#DTYPE_MISMATCH}, checked last, so that its transfer id can be trusted.
     */
    public KvFrameCheck check(
        final int length, final int layers, final int kvDim, final Dtype cacheDtype, final int maxTokens)
    {
        if (length < HEADER_LENGTH)
        {
            return KvFrameCheck.TOO_SHORT;
        }
        if (magic() != MAGIC)
        {
            return KvFrameCheck.BAD_MAGIC;
        }
        if (version() != CURRENT_VERSION)
        {
            return KvFrameCheck.BAD_VERSION;
        }
        final Dtype dtype = Dtype.fromCode(dtypeCode());
        if (dtype == null)
        {
            return KvFrameCheck.BAD_DTYPE;
        }
        if ((flags() & ~KNOWN_FLAGS) != 0)
        {
            return KvFrameCheck.BAD_FLAGS;
        }
        if (layers() != layers || layer() < 0 || layer() >= layers)
        {
            return KvFrameCheck.BAD_LAYER;
        }
        if (kvDim() != kvDim)
        {
            return KvFrameCheck.BAD_KV_DIM;
        }
        final boolean last = isLast();
        if (last ? tokenCount() != 0 : (tokenCount() < 1 || tokenCount() > maxTokens))
        {
            return KvFrameCheck.BAD_TOKEN_COUNT;
        }
        if ((last ? firstPosition() < 1 : firstPosition() < 0) || (long)firstPosition() + tokenCount() > Integer.MAX_VALUE)
        {
            return KvFrameCheck.BAD_POSITION;
        }
        if (payloadLength() != payloadLength(tokenCount(), kvDim, dtype))
        {
            return KvFrameCheck.BAD_PAYLOAD_LENGTH;
        }
        if (length != HEADER_LENGTH + payloadLength())
        {
            return KvFrameCheck.LENGTH_MISMATCH;
        }
        if (reserved() != 0)
        {
            return KvFrameCheck.RESERVED_NOT_ZERO;
        }
        return dtype == cacheDtype ? KvFrameCheck.VALID : KvFrameCheck.DTYPE_MISMATCH;
    }

    /** @return the frame's dtype, or null for an unknown code. */
    public Dtype dtype()
    {
        return Dtype.fromCode(dtypeCode());
    }

    public int magic()
    {
        return buffer.getInt(offset + MAGIC_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public short version()
    {
        return buffer.getShort(offset + VERSION_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public byte dtypeCode()
    {
        return buffer.getByte(offset + DTYPE_FIELD_OFFSET);
    }

    public byte flags()
    {
        return buffer.getByte(offset + FLAGS_FIELD_OFFSET);
    }

    public boolean isLast()
    {
        return (flags() & FLAG_LAST) != 0;
    }

    public long transferId()
    {
        return buffer.getLong(offset + TRANSFER_ID_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int layer()
    {
        return buffer.getInt(offset + LAYER_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int layers()
    {
        return buffer.getInt(offset + LAYERS_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int firstPosition()
    {
        return buffer.getInt(offset + FIRST_POSITION_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int tokenCount()
    {
        return buffer.getInt(offset + TOKEN_COUNT_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int kvDim()
    {
        return buffer.getInt(offset + KV_DIM_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int firstToken()
    {
        return buffer.getInt(offset + FIRST_TOKEN_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int payloadLength()
    {
        return buffer.getInt(offset + PAYLOAD_LENGTH_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int reserved()
    {
        return buffer.getInt(offset + RESERVED_FIELD_OFFSET, LITTLE_ENDIAN);
    }
}
