package dev.tandem.transport;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A killed expert-side process is noticed by its attention side through Aeron alone, within a
 * second ({@link TransportConfig#PEER_TIMEOUT_MS}): the media driver drops a client whose
 * keep-alives stop, and its images and subscriptions with it. No launcher sees the exit here, as
 * none does across hosts. The expert side runs in a child JVM (this class's {@link #main}) that
 * shares this test's embedded driver over aeron:ipc, and is killed with SIGKILL.
 */
class PeerDeathDetectionTest
{
    private static final int HIDDEN = 16;
    private static final int ROWS = 4;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(30);

    /** Peer timeout as deployed; a receive timeout far beyond it, so that only liveness can end the wait. */
    private static M2nContext context(final TransportConfig config)
    {
        return new M2nContext()
            .hiddenSize(HIDDEN)
            .dtype(Dtype.FP32)
            .maxTokensPerPeer(ROWS)
            .epoch(1)
            .topology(M2nTopology.ipc(1, 1))
            .config(config.withTimeouts(TimeUnit.SECONDS.toNanos(30), config.peerTimeoutNs(),
                TimeUnit.SECONDS.toNanos(60)));
    }

    /** The expert side: replies to every frame of the attention side, until killed. */
    public static void main(final String[] args)
    {
        final M2nContext ctx = context(TransportConfig.defaults().withAeronDirectoryName(args[0]));
        try (AeronNode node = AeronNode.launch(ctx.config());
            AeronM2nReceiver receiver = new AeronM2nReceiver(ctx, node.aeron(), 0))
        {
            receiver.awaitConnected(CONNECT_TIMEOUT_NS);
            System.out.println("ready");
            System.out.flush();
            final RowBatch gathered = new RowBatch(1, ROWS, HIDDEN, Dtype.FP32);
            for (long step = 0; ; step++)
            {
                receiver.receive(step, 0, 0, gathered);
                receiver.reply(step, 0, 0, gathered);
            }
        }
    }

    @Test
    void shouldNoticeAKilledExpertProcessWithinASecond() throws Exception
    {
        final M2nContext ctx = context(TransportConfig.defaults());
        try (AeronNode node = AeronNode.launch(ctx.config());
            AeronM2nSender sender = new AeronM2nSender(ctx, node.aeron(), 0))
        {
            final Process expert = startExpert(node.aeronDirectoryName());
            try
            {
                final BufferedReader out = new BufferedReader(new InputStreamReader(expert.getInputStream(),
                    StandardCharsets.UTF_8));
                assertEquals("ready", out.readLine(), "the expert process connects");
                sender.awaitConnected(CONNECT_TIMEOUT_NS);
                final RowBatch batch = new RowBatch(1, ROWS, HIDDEN, Dtype.FP32);
                batch.layoutContiguous(new int[]{ROWS});
                long step = 0;
                for (; step < 3; step++) // a working exchange first
                {
                    sender.send(step, 0, 0, batch);
                    sender.receiveResults(step, 0, 0, batch);
                }

                expert.destroyForcibly(); // SIGKILL: no close, no end of stream
                assertTrue(expert.waitFor(10, TimeUnit.SECONDS));
                final long killedNs = System.nanoTime();
                final long lastStep = step;
                final PeerLostException lost = assertThrows(PeerLostException.class, () ->
                {
                    sender.send(lastStep, 0, 0, batch);
                    sender.receiveResults(lastStep, 0, 0, batch);
                });
                final double seconds = (System.nanoTime() - killedNs) / 1e9;
                System.err.printf("peer death: the attention side lost the killed expert %.2f s after the kill: %s%n",
                    seconds, lost.getMessage());
                // the driver's client liveness (0.8 s) and its timer (0.1 s); slack for a loaded 2-core machine
                assertTrue(seconds < 1.5, "noticed after " + seconds + " s: " + lost.getMessage());
            }
            finally
            {
                expert.destroyForcibly();
                expert.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** This class's main in a JVM of its own, with this JVM's module flags and class path. */
    private static Process startExpert(final String aeronDirectory) throws Exception
    {
        final List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        for (final String arg : ManagementFactory.getRuntimeMXBean().getInputArguments())
        {
            if (arg.startsWith("--add-") || arg.startsWith("--enable-native-access"))
            {
                command.add(arg);
            }
        }
        command.addAll(Arrays.asList("-Xmx256m", "-cp", System.getProperty("java.class.path"),
            PeerDeathDetectionTest.class.getName(), aeronDirectory));
        return new ProcessBuilder(command)
            .redirectError(new File(System.getProperty("java.io.tmpdir"), "tandem-peer-death-expert.log"))
            .start();
    }
}
