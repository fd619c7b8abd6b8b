package dev.tandem.transport;

import dev.tandem.core.cluster.ClusterConfig;
import org.agrona.CloseHelper;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The M2N endpoint of one node of a {@link ClusterConfig}, in its own process: an attention
 * node's sender or an expert node's receiver, with the Aeron client or Netty event loop it
 * needs, all closed together.
 */
public final class ClusterTransport implements AutoCloseable
{
    /** Aeron caps one message at 16 MiB whatever the term length. */
    private static final int MAX_AERON_MESSAGE = 16 * 1024 * 1024;

    private final List<AutoCloseable> owned = new ArrayList<>(); // closed in reverse order
    private final M2nContext ctx;

    /**
     * @param maxTokensPerPeer the most rows one frame carries: a micro-batch's tokens times top-k
     *                         from a sender; the same bound is used for each sender at a receiver.
     */
    public ClusterTransport(final ClusterConfig cluster, final int hiddenSize, final int maxTokensPerPeer)
    {
        this(cluster, hiddenSize, maxTokensPerPeer, null);
    }

    /**
     * As above, with the cluster's shared secret ({@code --cluster-token-file}), or null: over TCP
     * every sender's hello is then signed with it ({@link HelloAuth}), and a receiver bound beyond
     * loopback refuses to start without one.
     */
    public ClusterTransport(final ClusterConfig cluster, final int hiddenSize, final int maxTokensPerPeer,
        final dev.tandem.core.cluster.ClusterToken clusterToken)
    {
        final long receiveTimeoutNs = TimeUnit.MILLISECONDS.toNanos(cluster.receiveTimeoutMs());
        final int maxFrame = (int)Math.min(Integer.MAX_VALUE / 2,
            FrameFlyweight.frameLength(maxTokensPerPeer, hiddenSize, wireDtype(cluster)));
        if (maxFrame > MAX_AERON_MESSAGE)
        {
            throw new dev.tandem.core.TandemException("cluster config: max_batch_tokens makes frames of up to " +
                (maxFrame >> 20) + " MiB (" + maxTokensPerPeer + " rows of " + hiddenSize +
                " floats), above Aeron's 16 MiB message limit; lower max_batch_tokens to at most " +
                (long)MAX_AERON_MESSAGE * cluster.maxBatchTokens() / maxFrame); // frames grow with the tokens
        }
        final M2nTopology topology = topology(cluster);
        TransportConfig config = TransportConfig.defaults();
        // On one host the MTU only cuts frames into the log's fragments: the largest one means the
        // fewest to claim, commit and read. From the device, 2×2 at 256 KB a peer moved 12015 and 12278
        // MB/s at 64 KiB against 8700 to 11510 at 8 KiB (bench/GPU_NOTES.md, session 12, run 3).
        final int mtu = topology.udp() ? config.mtuLength() : TransportConfig.MAX_MTU_LENGTH;
        config = config.withTimeouts(config.sendTimeoutNs(), config.peerTimeoutNs(), receiveTimeoutNs)
            .withMtuAndTermLength(mtu, TransportConfig.termLengthFor(Math.max(maxFrame, mtu)));
        if (cluster.aeronDirectory() != null)
        {
            config = config.withAeronDirectoryName(cluster.aeronDirectory());
        }
        ctx = new M2nContext()
            .topology(topology.withStreamIdBase(cluster.streamIdBase())
                .withSessionIdBase(sessionIdBase(cluster.epoch())))
            .config(config)
            .hiddenSize(hiddenSize)
            .dtype(wireDtype(cluster))
            .maxTokensPerPeer(maxTokensPerPeer)
            .epoch(cluster.epoch())
            .clusterToken(clusterToken)
            .conclude();
    }

    /**
     * The activations' type on the wire: float32 (exact: the nodes compute in float32 on the CPU)
     * or bf16 (half the bytes; the nodes round their float32 rows on the way out).
     */
    public static Dtype wireDtype(final ClusterConfig cluster)
    {
        return switch (cluster.resolvedWireDtype())
        {
            case "bf16" -> Dtype.BF16;
            case "fp32" -> Dtype.FP32;
            default -> throw new dev.tandem.core.TandemException("cluster config: wire_dtype '" + cluster.wireDtype() +
                "' is not auto, fp32 or bf16");
        };
    }

    /** What this transport's frames carry. */
    public Dtype wireDtype()
    {
        return ctx.dtype();
    }

    /**
     * Session ids of epoch {@code epoch}: 1024 apart from one epoch to the next (a group has at most
     * 512 nodes of a role), so a group restarted under a new epoch never asks the media driver for a
     * session id that a dead process of the old one still holds there.
     */
    static int sessionIdBase(final long epoch)
    {
        return M2nTopology.DEFAULT_SESSION_ID_BASE + (int)(Math.floorMod(epoch - 1, 1 << 16)) * 1024;
    }

    private static M2nTopology topology(final ClusterConfig c)
    {
        final List<String> attention = c.attentionNodes().stream().map(ClusterConfig.Node::endpoint).toList();
        final List<String> experts = c.expertNodes().stream().map(ClusterConfig.Node::endpoint).toList();
        return switch (c.transport())
        {
            case "aeron-udp" -> M2nTopology.udp(attention, experts);
            case "tcp" -> M2nTopology.tcp(attention.size(), experts);
            default -> M2nTopology.ipc(attention.size(), experts.size());
        };
    }

    /** The sender of attention node {@code id}, connected to every expert node within {@code connectTimeoutNs}. */
    public M2nSender sender(final int id, final long connectTimeoutNs)
    {
        try
        {
            if (ctx.topology().senderEndpoints().get(id).equals("tcp"))
            {
                final NettyNode node = own(NettyNode.launch(1));
                return own(new NettyM2nSender(ctx, node, id)).awaitConnected(connectTimeoutNs);
            }
            final AeronNode node = own(AeronNode.launch(ctx.config()));
            return own(new AeronM2nSender(ctx, node.aeron(), id)).awaitConnected(connectTimeoutNs);
        }
        catch (final RuntimeException ex)
        {
            close();
            throw ex;
        }
    }

    /** The receiver of expert node {@code id}, connected to every attention node within {@code connectTimeoutNs}. */
    public M2nReceiver receiver(final int id, final long connectTimeoutNs)
    {
        try
        {
            if (ctx.topology().senderEndpoints().get(0).equals("tcp"))
            {
                final NettyNode node = own(NettyNode.launch(1));
                return own(new NettyM2nReceiver(ctx, node, id)).awaitConnected(connectTimeoutNs);
            }
            final AeronNode node = own(AeronNode.launch(ctx.config()));
            return own(new AeronM2nReceiver(ctx, node.aeron(), id)).awaitConnected(connectTimeoutNs);
        }
        catch (final RuntimeException ex)
        {
            close();
            throw ex;
        }
    }

    /**
     * A media driver for the aeron-ipc processes of one host to share, in a new unique directory
     * that is deleted when it closes.
     */
    public static io.aeron.driver.MediaDriver launchSharedDriver()
    {
        return AeronNode.launchPrivateDriver(AeronNode.driverContext(TransportConfig.defaults()));
    }

    private <T extends AutoCloseable> T own(final T closeable)
    {
        owned.add(closeable);
        return closeable;
    }

    @Override
    public void close()
    {
        for (int i = owned.size() - 1; i >= 0; i--)
        {
            CloseHelper.quietClose(owned.get(i));
        }
        owned.clear();
    }
}
