package dev.tandem.transport;

import dev.tandem.core.cluster.ClusterToken;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Netty data plane below the exchange tests: frames cut at every kind of read boundary
 * (the header itself included), hostile bytes on a connection, and back-pressure through TCP.
 */
class NettyTransportTest
{
    private static final int HIDDEN = 40;
    private static final int MAX_TOKENS = 24;
    private static final long EPOCH = 9;

    @Test
    void shouldGatherFramesCutIntoPiecesOfAnySize()
    {
        final M2nContext ctx = context(2);
        try (NettyEndpoint receiver = new NettyEndpoint(ctx, 0, false))
        {
            final EmbeddedChannel[] connections = {connect(receiver, 0), connect(receiver, 1)};
            final RowBatch source = new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16);
            final RowBatch gathered = new RowBatch(2, 2 * MAX_TOKENS, HIDDEN, Dtype.BF16);
            final SplittableRandom random = new SplittableRandom(17);
            for (int step = 0; step < 200; step++)
            {
                for (int s = 0; s < 2; s++)
                {
                    final int tokens = random.nextInt(MAX_TOKENS + 1);
                    source.layoutContiguous(new int[]{tokens});
                    Pattern.fill(source, 0, tokens, Pattern.mix(1, step, 0, s, 0));
                    // pieces of 1..60 bytes: headers split anywhere, composite frames of many components
                    writeInPieces(connections[s], frame(s, step, source), random, 1 + random.nextInt(60));
                }
                receiver.gather(step, 0, 0, gathered);
                for (int s = 0; s < 2; s++)
                {
                    source.layoutContiguous(new int[]{gathered.peerRowCount(s)});
                    assertNull(Pattern.check(gathered, gathered.peerRowStart(s), gathered.peerRowCount(s),
                        Pattern.mix(1, step, 0, s, 0), (byte)0, source, 0), "step " + step + " sender " + s);
                }
            }
            assertEquals(400, receiver.counters().accepted());
            assertEquals(0, receiver.counters().rejected(), receiver.counters().toString());
            for (final EmbeddedChannel connection : connections)
            {
                connection.finishAndReleaseAll();
            }
        }
    }

    @Test
    void shouldDropConnectionsWithoutValidHelloAndFramesThatFailValidation()
    {
        final M2nContext ctx = context(1);
        try (NettyEndpoint receiver = new NettyEndpoint(ctx, 0, false))
        {
            final EmbeddedChannel stranger = open(receiver);
            stranger.writeInbound(lengthPrefixed(hello(0, 1, new byte[HelloAuth.SIGNATURE_LENGTH]))); // to another receiver
            assertFalse(stranger.isActive(), "closed");
            assertEquals(1, receiver.counters().get(FrameCheck.UNKNOWN_PEER));

            final EmbeddedChannel connection = connect(receiver, 0);
            final EmbeddedChannel duplicate = connect(receiver, 0);
            assertFalse(duplicate.isActive(), "a second connection from a connected sender is closed");
            assertEquals(2, receiver.counters().get(FrameCheck.UNKNOWN_PEER));

            final RowBatch source = new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16);
            source.layoutContiguous(new int[]{3});
            Pattern.fill(source, 0, 3, 5);
            final ByteBuf wrongEpoch = frame(0, 0, source);
            wrongEpoch.setLongLE(NettyEndpoint.LENGTH_FIELD_LENGTH + FrameFlyweight.EPOCH_FIELD_OFFSET, EPOCH + 1);
            connection.writeInbound(wrongEpoch);
            connection.writeInbound(lengthPrefixed(new byte[7])); // shorter than a header
            connection.writeInbound(frame(0, 0, source));

            final RowBatch gathered = new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16);
            receiver.gather(0, 0, 0, gathered);
            assertNull(Pattern.check(gathered, 0, 3, 5, (byte)0, source, 0));
            assertEquals(1, receiver.counters().get(FrameCheck.BAD_EPOCH));
            assertEquals(1, receiver.counters().get(FrameCheck.TOO_SHORT));

            final ByteBuf tooLong = Unpooled.directBuffer(8).writeInt(1 << 30).writeInt(0);
            connection.writeInbound(tooLong); // a length prefix no frame can have: the stream is lost
            assertFalse(connection.isActive(), "closed");
            assertEquals(1, receiver.counters().get(FrameCheck.LENGTH_MISMATCH));
            final PeerLostException ex = assertThrows(PeerLostException.class, () -> receiver.gather(1, 0, 0, gathered));
            assertTrue(ex.peer().startsWith("sender 0"), ex.getMessage());
            stranger.finishAndReleaseAll();
            duplicate.finishAndReleaseAll();
            connection.finishAndReleaseAll();
        }
    }

    @Test
    void shouldCloseHellosNotSignedWithTheClusterTokenAndStillTakeTheRealSender()
    {
        final ClusterToken token = ClusterToken.of("the cluster's shared secret, 32+ bytes");
        final M2nContext ctx = context(1).clusterToken(token);
        try (NettyEndpoint receiver = new NettyEndpoint(ctx, 0, false))
        {
            // strangers first, each claiming to be sender 0: a guessed token, no signature, another connection's
            final EmbeddedChannel guessed = connect(receiver, 0, ClusterToken.of("a guess at the cluster's secret"));
            final EmbeddedChannel unsigned = connect(receiver, 0, null);
            final EmbeddedChannel replayed = open(receiver);
            challengeOf(replayed);
            final byte[] otherChallenge = new byte[HelloAuth.CHALLENGE_BYTES];
            replayed.writeInbound(lengthPrefixed(hello(0, 0, HelloAuth.sign(token, otherChallenge, 0, 0, EPOCH))));
            final EmbeddedChannel otherEpoch = open(receiver);
            otherEpoch.writeInbound(lengthPrefixed(hello(0, 0, HelloAuth.sign(token, challengeOf(otherEpoch), 0, 0, EPOCH + 1))));
            for (final EmbeddedChannel stranger : new EmbeddedChannel[]{guessed, unsigned, replayed, otherEpoch})
            {
                assertFalse(stranger.isActive(), "closed");
            }
            assertEquals(4, receiver.counters().get(FrameCheck.UNAUTHENTICATED));

            final EmbeddedChannel real = connect(receiver, 0, token);
            assertTrue(real.isActive(), "the real sender 0 gets in after them");
            final RowBatch source = new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16);
            source.layoutContiguous(new int[]{5});
            Pattern.fill(source, 0, 5, 11);
            real.writeInbound(frame(0, 0, source));
            final RowBatch gathered = new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16);
            receiver.gather(0, 0, 0, gathered);
            assertNull(Pattern.check(gathered, 0, 5, 11, (byte)0, source, 0));
            for (final EmbeddedChannel channel : new EmbeddedChannel[]{guessed, unsigned, replayed, otherEpoch, real})
            {
                channel.finishAndReleaseAll();
            }
        }
    }

    @Test
    void shouldExchangeOverSocketsWithSignedHellos() throws Exception
    {
        final M2nContext ctx = M2nExchangeTest.context(HIDDEN, Dtype.BF16, MAX_TOKENS, TransportConfig.defaults())
            .clusterToken(ClusterToken.of("the cluster's shared secret, 32+ bytes"));
        M2nExchangeTest.exchange(LocalM2n.Kind.NETTY_TCP, 2, 2, ctx, 4, 31);
    }

    @Test
    void shouldRefuseAReceiverBeyondLoopbackWithoutAClusterToken()
    {
        final M2nContext ctx = new M2nContext().topology(M2nTopology.tcp(1, java.util.List.of("0.0.0.0:0")))
            .hiddenSize(HIDDEN).dtype(Dtype.BF16).maxTokensPerPeer(MAX_TOKENS).epoch(EPOCH);
        try (NettyNode node = NettyNode.launch(1))
        {
            final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> new NettyM2nReceiver(ctx, node, 0).close());
            assertTrue(ex.getMessage().contains("cluster token"), ex.getMessage());
        }
    }

    @Test
    void shouldFailBackPressuredSendNamingTheReceiver()
    {
        final M2nContext ctx = context(1).config(TransportConfig.defaults().withTimeouts(
            TimeUnit.MILLISECONDS.toNanos(300), TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(5)));
        final int hidden = 4096;
        ctx.hiddenSize(hidden).maxTokensPerPeer(32).config(ctx.config().withMtuAndTermLength(8192,
            TransportConfig.termLengthFor(FrameFlyweight.frameLength(32, hidden, Dtype.BF16))));
        try (LocalM2n m2n = new LocalM2n(LocalM2n.Kind.NETTY_TCP, 1, 1, ctx))
        {
            final RowBatch batch = new RowBatch(1, 32, hidden, Dtype.BF16);
            batch.layoutContiguous(new int[]{32}); // 256 KiB frames
            final long startNs = System.nanoTime();
            final BackPressureException ex = assertThrows(BackPressureException.class, () ->
            {
                for (int step = 0; step < 100_000; step++) // the receiver never polls
                {
                    m2n.sender(0).send(step, 0, 0, batch);
                }
            });
            assertTrue(ex.peer().startsWith("receiver 0"), ex.getMessage());
            assertTrue(System.nanoTime() - startNs < TimeUnit.SECONDS.toNanos(20), "bounded");
        }
    }

    private static M2nContext context(final int senders)
    {
        return new M2nContext().topology(M2nTopology.tcp(senders, java.util.List.of("127.0.0.1:0")))
            .hiddenSize(HIDDEN).dtype(Dtype.BF16).maxTokensPerPeer(MAX_TOKENS).epoch(EPOCH);
    }

    /** An in-memory connection from {@code senderId} to the receiver, introduced by its hello (a cluster without a token). */
    private static EmbeddedChannel connect(final NettyEndpoint receiver, final int senderId)
    {
        return connect(receiver, senderId, null);
    }

    /** The same, the hello signed with {@code token} over the receiver's challenge (zero when null). */
    private static EmbeddedChannel connect(final NettyEndpoint receiver, final int senderId, final ClusterToken token)
    {
        final EmbeddedChannel channel = open(receiver);
        final byte[] challenge = challengeOf(channel);
        channel.writeInbound(lengthPrefixed(hello(senderId, 0, HelloAuth.sign(token, challenge, senderId, 0, EPOCH))));
        return channel;
    }

    /** An in-memory connection to the receiver, up: the receiver has written its challenge. */
    private static EmbeddedChannel open(final NettyEndpoint receiver)
    {
        final EmbeddedChannel channel = new EmbeddedChannel();
        receiver.initPipeline(channel, -1);
        channel.pipeline().fireChannelActive(); // the handler came after the channel was up
        return channel;
    }

    /** The challenge the receiver opened {@code channel} with. */
    private static byte[] challengeOf(final EmbeddedChannel channel)
    {
        final ByteBuf out = channel.readOutbound();
        final int length = out.readInt();
        final byte[] message = new byte[length];
        out.readBytes(message);
        out.release();
        final byte[] challenge = HelloAuth.readChallenge(new UnsafeBuffer(message), 0, length);
        assertEquals(HelloAuth.CHALLENGE_BYTES, challenge.length, "the first thing a receiver says");
        return challenge;
    }

    private static byte[] hello(final int senderId, final int receiverId, final byte[] signature)
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[HelloFlyweight.LENGTH]);
        new HelloFlyweight().wrap(buffer, 0).write(senderId, receiverId).signature(signature);
        return buffer.byteArray();
    }

    private static ByteBuf lengthPrefixed(final byte[] body)
    {
        return Unpooled.buffer().writeInt(body.length).writeBytes(body);
    }

    private static ByteBuf frame(final int senderId, final long step, final RowBatch source)
    {
        final int length = FrameWriter.frameLength(source, 0);
        final UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(length));
        new FrameWriter(FrameFlyweight.TYPE_DISPATCH, senderId, EPOCH).writeFrame(buffer, 0, step, 0, 0, source, 0);
        final ByteBuf buf = Unpooled.directBuffer(NettyEndpoint.LENGTH_FIELD_LENGTH + length).writeInt(length);
        buf.writeBytes(buffer.byteBuffer());
        return buf;
    }

    private static void writeInPieces(
        final EmbeddedChannel channel, final ByteBuf bytes, final SplittableRandom random, final int maxPiece)
    {
        while (bytes.isReadable())
        {
            final int piece = Math.min(bytes.readableBytes(), 1 + random.nextInt(maxPiece));
            channel.writeInbound(bytes.readRetainedSlice(piece)); // a read of this many bytes
        }
        bytes.release();
    }
}
