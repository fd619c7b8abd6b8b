package dev.tandem.transport;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * M senders x N receivers over each transport: random token counts (zero included) and random
 * bytes for many steps, two micro-batches in flight; every byte must arrive in its row, and the
 * results must come back to the rows they were sent from.
 */
class M2nExchangeTest
{
    private static final long SEED = 0x7A3D_C0DEL;
    private static final int STEPS = 50;
    private static final int MICRO_BATCHES = 2;
    private static final int HIDDEN = 40;           // bf16: 80 bytes a row, not a multiple of 16
    private static final int MAX_TOKENS_PER_PEER = 24;
    private static final long WAIT_S = 60;

    static Stream<Arguments> shapes()
    {
        final List<Arguments> arguments = new ArrayList<>();
        for (final LocalM2n.Kind kind : LocalM2n.Kind.values())
        {
            arguments.add(Arguments.of(kind, 1, 1));
            arguments.add(Arguments.of(kind, 2, 3));
            arguments.add(Arguments.of(kind, 4, 4));
        }
        arguments.add(Arguments.of(LocalM2n.Kind.IN_PROCESS, 3, 1));
        arguments.add(Arguments.of(LocalM2n.Kind.AERON_IPC, 1, 4));
        return arguments.stream();
    }

    @ParameterizedTest(name = "{0} {1}x{2}")
    @MethodSource("shapes")
    void shouldDeliverEveryByteBothWays(final LocalM2n.Kind kind, final int m, final int n) throws Exception
    {
        final M2nContext ctx = context(HIDDEN, Dtype.BF16, MAX_TOKENS_PER_PEER, TransportConfig.defaults()
            .withMtuAndTermLength(1408, 1024 * 1024));
        exchange(kind, m, n, ctx, STEPS, SEED);
    }

    static M2nContext context(final int hidden, final Dtype dtype, final int maxTokens, final TransportConfig config)
    {
        return new M2nContext()
            .hiddenSize(hidden)
            .dtype(dtype)
            .maxTokensPerPeer(maxTokens)
            .epoch(7)
            .config(config.withTimeouts(
                TimeUnit.SECONDS.toNanos(10), TimeUnit.SECONDS.toNanos(10), TimeUnit.SECONDS.toNanos(20)));
    }

    /** Run the exchange with one thread per node; fails on the first wrong byte or exception. */
    static void exchange(final LocalM2n.Kind kind, final int m, final int n, final M2nContext ctx, final int steps,
        final long seed) throws Exception
    {
        exchange(kind, m, n, ctx, steps, seed, null, null);
    }

    /**
     * As above; a node given a {@link FakeDeviceCopies} ({@code senderDevices[s]}, {@code
     * receiverDevices[r]}, either array null for host rows) keeps its rows on that "device": it
     * writes and checks them on the host, moving them on and off the device around each call.
     */
    static void exchange(final LocalM2n.Kind kind, final int m, final int n, final M2nContext ctx, final int steps,
        final long seed, final FakeDeviceCopies[] senderDevices, final FakeDeviceCopies[] receiverDevices)
        throws Exception
    {
        final ExecutorService executor = Executors.newFixedThreadPool(m + n);
        try (LocalM2n harness = new LocalM2n(kind, m, n, ctx))
        {
            final List<Future<?>> futures = new ArrayList<>();
            for (int s = 0; s < m; s++)
            {
                final M2nSender sender = harness.sender(s);
                final FakeDeviceCopies device = senderDevices == null ? null : senderDevices[s];
                futures.add(executor.submit(() -> runSender(sender, ctx, steps, seed, device)));
            }
            for (int r = 0; r < n; r++)
            {
                final M2nReceiver receiver = harness.receiver(r);
                final FakeDeviceCopies device = receiverDevices == null ? null : receiverDevices[r];
                futures.add(executor.submit(() -> runReceiver(receiver, ctx, n, steps, seed, device)));
            }
            for (final Future<?> future : futures)
            {
                future.get(WAIT_S, TimeUnit.SECONDS);
            }
            for (final M2nReceiver receiver : harness.receivers())
            {
                assertEquals(0, receiver.counters().rejected(), receiver.counters().toString());
                assertEquals((long)steps * MICRO_BATCHES * m, receiver.counters().accepted());
            }
            for (final M2nSender sender : harness.senders())
            {
                assertEquals(0, sender.counters().rejected(), sender.counters().toString());
                assertEquals((long)steps * MICRO_BATCHES * n, sender.counters().accepted());
            }
        }
        finally
        {
            executor.shutdownNow();
            assertEquals(true, executor.awaitTermination(WAIT_S, TimeUnit.SECONDS), "node threads stopped");
        }
    }

    private static Void runSender(
        final M2nSender sender, final M2nContext ctx, final int steps, final long seed, final FakeDeviceCopies device)
    {
        final int n = sender.receiverCount();
        final int s = sender.senderId();
        final int maxTokens = ctx.maxTokensPerPeer();
        final RowBatch[] batches = new RowBatch[MICRO_BATCHES];
        final RowBatch scratch = new RowBatch(n, n * maxTokens, ctx.hiddenSize(), ctx.dtype());
        final int[] counts = new int[n];
        for (int mb = 0; mb < MICRO_BATCHES; mb++)
        {
            batches[mb] = new RowBatch(n, n * maxTokens, ctx.hiddenSize(), ctx.dtype());
            if (device != null)
            {
                device.place(batches[mb]);
            }
        }
        for (long step = 0; step < steps; step++)
        {
            final int layer = (int)(step % 3);
            for (int mb = 0; mb < MICRO_BATCHES; mb++)
            {
                for (int r = 0; r < n; r++)
                {
                    counts[r] = Pattern.tokens(seed, step, mb, s, r, maxTokens);
                }
                batches[mb].layoutContiguous(counts);
                for (int r = 0; r < n; r++)
                {
                    Pattern.fill(batches[mb], batches[mb].peerRowStart(r), counts[r], Pattern.mix(seed, step, mb, s, r));
                }
                if (device != null)
                {
                    batches[mb].stageToDevice();
                    batches[mb].activations().setMemory(0, batches[mb].activations().capacity(), (byte)0);
                }
                sender.send(step, layer, mb, batches[mb]);
            }
            for (int mb = 0; mb < MICRO_BATCHES; mb++)
            {
                sender.receiveResults(step, layer, mb, batches[mb]); // results overwrite the inputs in place
                if (device != null)
                {
                    batches[mb].stageToHost();
                }
                for (int r = 0; r < n; r++)
                {
                    final int start = batches[mb].peerRowStart(r);
                    assertNull(Pattern.check(batches[mb], start, batches[mb].peerRowCount(r),
                        Pattern.mix(seed, step, mb, s, r), Pattern.RESULT_MASK, scratch, start),
                        "sender " + s + " results from receiver " + r + " step " + step + " mb " + mb);
                }
            }
        }
        return null;
    }

    private static Void runReceiver(final M2nReceiver receiver, final M2nContext ctx, final int n, final int steps,
        final long seed, final FakeDeviceCopies device)
    {
        final int m = receiver.senderCount();
        final int r = receiver.receiverId();
        final int maxTokens = ctx.maxTokensPerPeer();
        final RowBatch gathered = new RowBatch(m, m * maxTokens, ctx.hiddenSize(), ctx.dtype());
        final RowBatch scratch = new RowBatch(n, n * maxTokens, ctx.hiddenSize(), ctx.dtype());
        if (device != null)
        {
            device.place(gathered);
        }
        for (long step = 0; step < steps; step++)
        {
            final int layer = (int)(step % 3);
            for (int mb = 0; mb < MICRO_BATCHES; mb++)
            {
                receiver.receive(step, layer, mb, gathered);
                if (device != null)
                {
                    gathered.stageToHost();
                }
                int total = 0;
                for (int s = 0; s < m; s++)
                {
                    final int expected = Pattern.tokens(seed, step, mb, s, r, maxTokens);
                    assertEquals(expected, gathered.peerRowCount(s), "tokens from sender " + s);
                    int senderStart = 0; // where the sender had these rows
                    for (int before = 0; before < r; before++)
                    {
                        senderStart += Pattern.tokens(seed, step, mb, s, before, maxTokens);
                    }
                    assertNull(Pattern.check(gathered, gathered.peerRowStart(s), expected,
                        Pattern.mix(seed, step, mb, s, r), (byte)0, scratch, senderStart),
                        "receiver " + r + " from sender " + s + " step " + step + " mb " + mb);
                    total += expected;
                }
                assertEquals(total, gathered.rowCount(), "rows of all senders concatenated");
                Pattern.transform(gathered);
                if (device != null)
                {
                    gathered.stageToDevice();
                    gathered.activations().setMemory(0, gathered.activations().capacity(), (byte)0);
                }
                receiver.reply(step, layer, mb, gathered);
            }
        }
        return null;
    }
}
