package dev.tandem.transport;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * The first message a sender writes on each TCP connection of the Netty data plane, once the
 * receiver's challenge ({@link HelloAuth}) has come: it tells the receiver which sender the
 * connection belongs to (TCP has no session id), signed with the cluster token where the cluster
 * has one, so that nobody else can take a sender's place. Little-endian, like
 * {@link FrameFlyweight}, and carried in the same length-prefixed framing.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                     Magic 0x48324D54 "TM2H"                   |  0
 *  +-------------------------------+-------------------------------+
 *  |            Version            |         Reserved (0)          |  4
 *  +-------------------------------+-------------------------------+
 *  |                           Sender Id                           |  8
 *  +---------------------------------------------------------------+
 *  |                          Receiver Id                          | 12
 *  +---------------------------------------------------------------+
 *  |   Signature: HMAC-SHA256 of the challenge, ids and epoch with  | 16
 *  |   the cluster token (32 bytes; zero in a cluster without one)   |
 *  +---------------------------------------------------------------+
 * </pre>
 */
public final class HelloFlyweight
{
    public static final int MAGIC = 0x48324D54;
    public static final short CURRENT_VERSION = 2; // 2: the signature

    public static final int MAGIC_FIELD_OFFSET = 0;
    public static final int VERSION_FIELD_OFFSET = 4;
    public static final int RESERVED_FIELD_OFFSET = 6;
    public static final int SENDER_ID_FIELD_OFFSET = 8;
    public static final int RECEIVER_ID_FIELD_OFFSET = 12;
    public static final int SIGNATURE_FIELD_OFFSET = 16;
    public static final int LENGTH = SIGNATURE_FIELD_OFFSET + HelloAuth.SIGNATURE_LENGTH;

    private DirectBuffer buffer;
    private MutableDirectBuffer mutableBuffer;
    private int offset;

    public HelloFlyweight wrap(final DirectBuffer buffer, final int offset)
    {
        this.buffer = buffer;
        this.mutableBuffer = null;
        this.offset = offset;
        return this;
    }

    public HelloFlyweight wrap(final MutableDirectBuffer buffer, final int offset)
    {
        this.buffer = buffer;
        this.mutableBuffer = buffer;
        this.offset = offset;
        return this;
    }

    /** Write a complete hello from {@code senderId} to {@code receiverId}. */
    public HelloFlyweight write(final int senderId, final int receiverId)
    {
        mutableBuffer.putInt(offset + MAGIC_FIELD_OFFSET, MAGIC, LITTLE_ENDIAN);
        mutableBuffer.putShort(offset + VERSION_FIELD_OFFSET, CURRENT_VERSION, LITTLE_ENDIAN);
        mutableBuffer.putShort(offset + RESERVED_FIELD_OFFSET, (short)0, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + SENDER_ID_FIELD_OFFSET, senderId, LITTLE_ENDIAN);
        mutableBuffer.putInt(offset + RECEIVER_ID_FIELD_OFFSET, receiverId, LITTLE_ENDIAN);
        mutableBuffer.setMemory(offset + SIGNATURE_FIELD_OFFSET, HelloAuth.SIGNATURE_LENGTH, (byte)0);
        return this;
    }

    /** Sets the signature ({@link HelloAuth#sign}); after {@link #write}. */
    public HelloFlyweight signature(final byte[] signature)
    {
        mutableBuffer.putBytes(offset + SIGNATURE_FIELD_OFFSET, signature);
        return this;
    }

    /** Whether the signature is {@code expected}, compared in constant time (as {@code ClusterToken.verifies} does). */
    public boolean signatureIs(final byte[] expected)
    {
        final byte[] signature = new byte[HelloAuth.SIGNATURE_LENGTH];
        buffer.getBytes(offset + SIGNATURE_FIELD_OFFSET, signature);
        return java.security.MessageDigest.isEqual(signature, expected);
    }

    public int magic()
    {
        return buffer.getInt(offset + MAGIC_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public short version()
    {
        return buffer.getShort(offset + VERSION_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public short reserved()
    {
        return buffer.getShort(offset + RESERVED_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int senderId()
    {
        return buffer.getInt(offset + SENDER_ID_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    public int receiverId()
    {
        return buffer.getInt(offset + RECEIVER_ID_FIELD_OFFSET, LITTLE_ENDIAN);
    }

    /**
     * @return the sender id if the {@code length} bytes at the wrapped offset are a valid hello
     *         addressed to {@code receiverId} from one of {@code senderCount} senders, else -1.
     */
    public int validSenderId(final int length, final int receiverId, final int senderCount)
    {
        if (length != LENGTH || magic() != MAGIC || version() != CURRENT_VERSION || reserved() != 0 ||
            receiverId() != receiverId)
        {
            return -1;
        }
        final int senderId = senderId();
        return senderId >= 0 && senderId < senderCount ? senderId : -1;
    }
}
