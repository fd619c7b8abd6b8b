package dev.tandem.transport;

import dev.tandem.core.cluster.ClusterToken;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.security.SecureRandom;
import java.util.HexFormat;

import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * How a TCP receiver of the Netty data plane knows its senders: it opens each accepted
 * connection with a challenge of 32 random bytes, and the sender's {@link HelloFlyweight}
 * carries the cluster token's HMAC-SHA256 over that challenge, the sender's and receiver's ids
 * and the cluster epoch. A peer without the token cannot sign, and a hello seen on one
 * connection is worth nothing on another, so a stranger that connects first claiming to be a
 * sender is closed, and the real sender still gets in. In a cluster without a token the
 * signature is zero and not checked (its nodes listen on loopback only).
 * <pre>
 *  challenge: | Magic 0x43324D54 "TM2C" (4) | 32 random bytes |
 * </pre>
 */
public final class HelloAuth
{
    public static final int CHALLENGE_MAGIC = 0x43324D54;
    public static final int CHALLENGE_BYTES = 32;
    public static final int CHALLENGE_LENGTH = 4 + CHALLENGE_BYTES;
    public static final int SIGNATURE_LENGTH = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private HelloAuth()
    {
    }

    /** A new challenge, written as its message at {@code offset}: @return its 32 bytes. */
    public static byte[] writeChallenge(final MutableDirectBuffer buffer, final int offset)
    {
        final byte[] bytes = new byte[CHALLENGE_BYTES];
        RANDOM.nextBytes(bytes);
        buffer.putInt(offset, CHALLENGE_MAGIC, LITTLE_ENDIAN);
        buffer.putBytes(offset + 4, bytes);
        return bytes;
    }

    /** The challenge's 32 bytes if the {@code length} bytes at {@code offset} are a challenge message, else null. */
    public static byte[] readChallenge(final DirectBuffer buffer, final int offset, final int length)
    {
        if (length != CHALLENGE_LENGTH || buffer.getInt(offset, LITTLE_ENDIAN) != CHALLENGE_MAGIC)
        {
            return null;
        }
        final byte[] bytes = new byte[CHALLENGE_BYTES];
        buffer.getBytes(offset + 4, bytes);
        return bytes;
    }

    /** The signature a hello from {@code senderId} to {@code receiverId} carries; zero without a token. */
    public static byte[] sign(
        final ClusterToken token, final byte[] challenge, final int senderId, final int receiverId, final long epoch)
    {
        if (token == null)
        {
            return new byte[SIGNATURE_LENGTH];
        }
        return HexFormat.of().parseHex(token.answer("m2n-hello " + HexFormat.of().formatHex(challenge) + " sender " +
            senderId + " receiver " + receiverId + " epoch " + epoch));
    }
}
