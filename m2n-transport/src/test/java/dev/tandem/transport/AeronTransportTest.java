package dev.tandem.transport;

import io.aeron.ChannelUriStringBuilder;
import io.aeron.ExclusivePublication;
import io.aeron.driver.ext.DebugReceiveChannelEndpoint;
import io.aeron.driver.ext.LossGenerator;
import io.aeron.driver.ext.RandomLossGenerator;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Large frames, lost peers, back-pressure, hostile publishers and packet loss. */
class AeronTransportTest
{
    private static final int SMALL_HIDDEN = 40;
    private static final int SMALL_MAX_TOKENS = 24;
    private static final long PEER_TIMEOUT_MS = 1000;

    @ParameterizedTest
    @EnumSource(value = LocalM2n.Kind.class, names = {"AERON_IPC", "AERON_UDP", "NETTY_TCP"})
    void shouldReassembleFramesUpToOneMegabyte(final LocalM2n.Kind kind) throws Exception
    {
        final int hidden = 4096;     // bf16: 8 KiB a row, so 32 tokens make 256 KiB and 127 almost 1 MiB
        final int maxTokens = 127;
        final long maxFrame = FrameFlyweight.frameLength(maxTokens, hidden, Dtype.BF16);
        assertTrue(maxFrame > 1_000_000 && maxFrame <= 1 << 20);
        final M2nContext ctx = M2nExchangeTest.context(hidden, Dtype.BF16, maxTokens, TransportConfig.defaults()
            .withMtuAndTermLength(8192, TransportConfig.termLengthFor(maxFrame)));
        M2nExchangeTest.exchange(kind, 2, 2, ctx, 6, 11);
    }

    @Test
    void shouldDeliverSameBytesWithFivePercentUdpLoss() throws Exception
    {
        final AtomicLong dropped = new AtomicLong();
        final SplittableRandom seeds = new SplittableRandom(5);
        final TransportConfig config = TransportConfig.defaults().withMtuAndTermLength(1408, 1024 * 1024)
            .withDriverCustomizer(driverCtx -> driverCtx.receiveChannelEndpointSupplier(
                (udpChannel, dispatcher, statusIndicator, context) -> new DebugReceiveChannelEndpoint(
                    udpChannel, dispatcher, statusIndicator, context,
                    counting(new RandomLossGenerator(0.05, seeds.nextLong()), dropped),
                    new RandomLossGenerator(0.0))));
        final M2nContext ctx = M2nExchangeTest.context(SMALL_HIDDEN * 8, Dtype.FP32, SMALL_MAX_TOKENS, config);
        M2nExchangeTest.exchange(LocalM2n.Kind.AERON_UDP, 2, 2, ctx, 20, 13);
        assertTrue(dropped.get() > 10, "packets dropped: " + dropped.get());
    }

    @ParameterizedTest
    @EnumSource(LocalM2n.Kind.class)
    void shouldReportLostReceiverWithinPeerTimeout(final LocalM2n.Kind kind)
    {
        final M2nContext ctx = smallContext().config(TransportConfig.defaults().withTimeouts(
            TimeUnit.MILLISECONDS.toNanos(PEER_TIMEOUT_MS), TimeUnit.MILLISECONDS.toNanos(PEER_TIMEOUT_MS),
            TimeUnit.SECONDS.toNanos(5)));
        try (LocalM2n harness = new LocalM2n(kind, 1, 2, ctx))
        {
            final M2nSender sender = harness.sender(0);
            final RowBatch batch = new RowBatch(2, 2 * SMALL_MAX_TOKENS, SMALL_HIDDEN, Dtype.BF16);
            final RowBatch gathered = new RowBatch(1, SMALL_MAX_TOKENS, SMALL_HIDDEN, Dtype.BF16);
            batch.layoutContiguous(new int[]{3, 5});
            roundTrip(harness, batch, gathered, 0, true);

            harness.receiver(1).close();
            final long startNs = System.nanoTime();
            final PeerLostException ex = assertThrows(
                PeerLostException.class, () -> roundTrip(harness, batch, gathered, 1, false));
            final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
            assertTrue(ex.peer().startsWith("receiver 1"), ex.getMessage());
            assertTrue(elapsedMs < PEER_TIMEOUT_MS + 2000, "reported after " + elapsedMs + " ms: " + ex.getMessage());
            assertEquals(0, sender.counters().rejected());
        }
    }

    private static void roundTrip(
        final LocalM2n harness, final RowBatch batch, final RowBatch gathered, final long step, final boolean both)
    {
        harness.sender(0).send(step, 0, 0, batch);
        for (int r = 0; r < (both ? 2 : 1); r++)
        {
            harness.receiver(r).receive(step, 0, 0, gathered);
            harness.receiver(r).reply(step, 0, 0, gathered);
        }
        harness.sender(0).receiveResults(step, 0, 0, batch);
    }

    @Test
    void shouldFailBackPressuredSendNamingTheReceiver()
    {
        final M2nContext ctx = smallContext().config(TransportConfig.defaults()
            .withMtuAndTermLength(1408, TransportConfig.MIN_TERM_LENGTH)
            .withTimeouts(TimeUnit.MILLISECONDS.toNanos(300), TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(5)));
        try (LocalM2n harness = new LocalM2n(LocalM2n.Kind.AERON_IPC, 1, 1, ctx))
        {
            final RowBatch batch = new RowBatch(1, SMALL_MAX_TOKENS, SMALL_HIDDEN, Dtype.BF16);
            batch.layoutContiguous(new int[]{SMALL_MAX_TOKENS});
            final BackPressureException ex = assertThrows(BackPressureException.class, () ->
            {
                for (int step = 0; step < 1000; step++) // the receiver never polls
                {
                    harness.sender(0).send(step, 0, 0, batch);
                }
            });
            assertTrue(ex.peer().startsWith("receiver 0"), ex.getMessage());
        }
    }

    @Test
    void shouldDropHostileFramesFromRealPublications()
    {
        final M2nContext ctx = smallContext().topology(M2nTopology.ipc(1, 1));
        final int hostileFrames = 500;
        final int strangerFrames = 50;
        try (AeronNode node = AeronNode.launch(ctx.config());
            AeronEndpoint receiver = new AeronEndpoint(ctx, node.aeron(), 0, false);
            ExclusivePublication rogue = node.aeron().addExclusivePublication( // poses as sender 0
                ctx.topology().dispatchPublicationChannel(0, 0, ctx.config()), ctx.topology().dispatchStreamId(0));
            ExclusivePublication stranger = node.aeron().addExclusivePublication(
                new ChannelUriStringBuilder().media("ipc").sessionId(12345).build(), ctx.topology().dispatchStreamId(0)))
        {
            final UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(8192));
            final RowBatch source = new RowBatch(1, SMALL_MAX_TOKENS, SMALL_HIDDEN, Dtype.BF16);
            final FrameWriter writer = new FrameWriter(FrameFlyweight.TYPE_DISPATCH, 0, ctx.epoch());
            final FrameFlyweight frame = new FrameFlyweight();
            final SplittableRandom random = new SplittableRandom(3);
            for (int i = 0; i < hostileFrames; i++)
            {
                source.layoutContiguous(new int[]{random.nextInt(SMALL_MAX_TOKENS + 1)});
                writer.writeFrame(buffer, 0, 0, 0, 0, source, 0);
                int length = FrameWriter.frameLength(source, 0);
                frame.wrap(buffer, 0);
                switch (random.nextInt(5))
                {
                    case 0 -> frame.epoch(ctx.epoch() + 1);
                    case 1 -> frame.payloadLength(frame.payloadLength() - 2);
                    case 2 -> frame.tokenCount(frame.tokenCount() + 1);
                    case 3 -> length = length + 8; // more bytes than the header declares
                    default ->
                    {
                        length = 1 + random.nextInt(5000); // garbage, fragmented above one MTU
                        for (int b = 0; b < length; b++)
                        {
                            buffer.putByte(b, (byte)random.nextInt());
                        }
                    }
                }
                offer(rogue, buffer, length);
            }
            source.layoutContiguous(new int[]{4});
            Pattern.fill(source, 0, 4, 99);
            writer.writeFrame(buffer, 0, 0, 0, 0, source, 0);
            offer(stranger, buffer, FrameWriter.frameLength(source, 0));
            for (int i = 1; i < strangerFrames; i++)
            {
                offer(stranger, buffer, FrameWriter.frameLength(source, 0));
            }
            offer(rogue, buffer, FrameWriter.frameLength(source, 0)); // finally one good frame

            final RowBatch gathered = new RowBatch(1, SMALL_MAX_TOKENS, SMALL_HIDDEN, Dtype.BF16);
            receiver.gather(0, 0, 0, gathered);
            assertEquals(4, gathered.peerRowCount(0));
            assertEquals(null, Pattern.check(gathered, 0, 4, 99, (byte)0, source, 0));

            final long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (receiver.counters().get(FrameCheck.UNKNOWN_PEER) < strangerFrames && System.nanoTime() < deadlineNs)
            {
                receiver.doWork();
                Thread.onSpinWait();
            }
            final TransportCounters counters = receiver.counters();
            assertEquals(hostileFrames + strangerFrames, counters.rejected(), counters.toString());
            assertEquals(strangerFrames, counters.get(FrameCheck.UNKNOWN_PEER), counters.toString());
            assertEquals(1, counters.accepted());
        }
    }

    @Test
    void shouldLeaveNoDirectoryWhenTheDriverRefusesItsConfiguration()
    {
        final java.io.File parent = new java.io.File(io.aeron.CommonContext.getAeronDirectoryName()).getParentFile();
        final java.util.Set<String> before = aeronDirectories(parent);
        final TransportConfig config = TransportConfig.defaults() // a socket buffer smaller than the MTU
            .withDriverCustomizer(ctx -> ctx.socketSndbufLength(4));
        assertThrows(RuntimeException.class, () -> AeronNode.launch(config));
        assertEquals(before, aeronDirectories(parent));
    }

    private static java.util.Set<String> aeronDirectories(final java.io.File parent)
    {
        final String[] names = parent.list((dir, name) -> name.startsWith("aeron-"));
        return names == null ? java.util.Set.of() : java.util.Set.of(names);
    }

    private static void offer(final ExclusivePublication publication, final UnsafeBuffer buffer, final int length)
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (publication.offer(buffer, 0, length) < 0)
        {
            assertTrue(System.nanoTime() < deadlineNs, "offer timed out");
            Thread.yield();
        }
    }

    private static M2nContext smallContext()
    {
        return new M2nContext().hiddenSize(SMALL_HIDDEN).dtype(Dtype.BF16).maxTokensPerPeer(SMALL_MAX_TOKENS).epoch(3);
    }

    private static LossGenerator counting(final LossGenerator delegate, final AtomicLong dropped)
    {
        return (address, buffer, length) ->
        {
            final boolean drop = delegate.shouldDropFrame(address, buffer, length);
            if (drop)
            {
                dropped.incrementAndGet();
            }
            return drop;
        };
    }
}
