package dev.tandem.transport;

import org.agrona.CloseHelper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * M senders and N receivers of one transport kind in this process, connected and ready, for
 * tests and benchmarks; closes everything it built. Nodes are set up as they would be across
 * processes: UDP and TCP give every node its own media driver or event loop, IPC shares one
 * driver because aeron:ipc needs it. Each sender and receiver may then run on its own thread.
 */
public final class LocalM2n implements AutoCloseable
{
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);
    private static final String LOOPBACK = "127.0.0.1";

    public enum Kind
    {
        IN_PROCESS, AERON_IPC, AERON_UDP, NETTY_TCP
    }

    private final M2nSender[] senders;
    private final M2nReceiver[] receivers;
    private final List<AutoCloseable> closeables = new ArrayList<>(); // closed in reverse order

    /** Build and connect; {@code ctx}'s topology is replaced by one that fits the kind. */
    public LocalM2n(final Kind kind, final int m, final int n, final M2nContext ctx)
    {
        senders = new M2nSender[m];
        receivers = new M2nReceiver[n];
        try
        {
            switch (kind)
            {
                case IN_PROCESS -> buildInProcess(ctx, m, n);
                case AERON_IPC ->
                {
                    ctx.topology(M2nTopology.ipc(m, n));
                    final AeronNode node = own(AeronNode.launch(ctx.config())); // one driver: IPC needs it shared
                    buildAeron(ctx, new AeronNode[]{node}, m, n);
                }
                case AERON_UDP -> buildUdp(ctx, m, n);
                case NETTY_TCP -> buildNetty(ctx, m, n);
            }
        }
        catch (final RuntimeException ex)
        {
            close();
            throw ex;
        }
    }

    public M2nSender sender(final int senderId)
    {
        return senders[senderId];
    }

    public M2nReceiver receiver(final int receiverId)
    {
        return receivers[receiverId];
    }

    public List<M2nSender> senders()
    {
        return List.of(senders);
    }

    public List<M2nReceiver> receivers()
    {
        return List.of(receivers);
    }

    private <T extends AutoCloseable> T own(final T closeable)
    {
        closeables.add(closeable);
        return closeable;
    }

    private void buildInProcess(final M2nContext ctx, final int m, final int n)
    {
        final InProcessM2n hub = own(new InProcessM2n(ctx.topology(M2nTopology.ipc(m, n))));
        for (int s = 0; s < m; s++)
        {
            senders[s] = hub.sender(s);
        }
        for (int r = 0; r < n; r++)
        {
            receivers[r] = hub.receiver(r);
        }
    }

    /** {@code nodes} holds one node for all, or M sender nodes then N receiver nodes. */
    private void buildAeron(final M2nContext ctx, final AeronNode[] nodes, final int m, final int n)
    {
        final AeronM2nSender[] aeronSenders = new AeronM2nSender[m];
        final AeronM2nReceiver[] aeronReceivers = new AeronM2nReceiver[n];
        for (int s = 0; s < m; s++)
        {
            aeronSenders[s] = own(new AeronM2nSender(ctx, nodes[nodes.length == 1 ? 0 : s].aeron(), s));
            senders[s] = aeronSenders[s];
        }
        for (int r = 0; r < n; r++)
        {
            aeronReceivers[r] = own(new AeronM2nReceiver(ctx, nodes[nodes.length == 1 ? 0 : m + r].aeron(), r));
            receivers[r] = aeronReceivers[r];
        }
        for (final AeronM2nSender sender : aeronSenders)
        {
            sender.awaitConnected(CONNECT_TIMEOUT_NS);
        }
        for (final AeronM2nReceiver receiver : aeronReceivers)
        {
            receiver.awaitConnected(CONNECT_TIMEOUT_NS);
        }
    }

    /** Receivers listen on free loopback ports first, then senders connect to them; one event loop per node. */
    private void buildNetty(final M2nContext ctx, final int m, final int n)
    {
        ctx.topology(M2nTopology.tcp(m, Collections.nCopies(n, LOOPBACK + ":0")));
        final NettyM2nReceiver[] nettyReceivers = new NettyM2nReceiver[n];
        final List<String> bound = new ArrayList<>();
        for (int r = 0; r < n; r++)
        {
            final NettyNode node = own(NettyNode.launch(1));
            nettyReceivers[r] = own(new NettyM2nReceiver(ctx, node, r));
            receivers[r] = nettyReceivers[r];
            bound.add(nettyReceivers[r].endpoint());
        }
        ctx.topology(ctx.topology().withReceiverEndpoints(bound));
        final NettyM2nSender[] nettySenders = new NettyM2nSender[m];
        for (int s = 0; s < m; s++)
        {
            final NettyNode node = own(NettyNode.launch(1));
            nettySenders[s] = own(new NettyM2nSender(ctx, node, s));
            senders[s] = nettySenders[s];
        }
        for (final NettyM2nSender sender : nettySenders)
        {
            sender.awaitConnected(CONNECT_TIMEOUT_NS);
        }
        for (final NettyM2nReceiver receiver : nettyReceivers)
        {
            receiver.awaitConnected(CONNECT_TIMEOUT_NS);
        }
    }

    /**
     * One driver per node, as across hosts, on ports that were free a moment ago. Another socket can take
     * such a port before the receiver binds it (a driver's own ephemeral ports among them): then the whole
     * build is tried again on fresh ports, a few times.
     */
    private void buildUdp(final M2nContext ctx, final int m, final int n)
    {
        for (int attempt = 1; ; attempt++)
        {
            ctx.topology(M2nTopology.udp(freeUdpEndpoints(m), freeUdpEndpoints(n)));
            try
            {
                final AeronNode[] nodes = new AeronNode[m + n];
                for (int i = 0; i < m + n; i++)
                {
                    nodes[i] = own(AeronNode.launch(ctx.config()));
                }
                buildAeron(ctx, nodes, m, n);
                return;
            }
            catch (final io.aeron.exceptions.RegistrationException ex)
            {
                if (attempt == 3 || ex.getMessage() == null || !ex.getMessage().contains("Address already in use"))
                {
                    throw ex;
                }
                close(); // what this attempt built; the next starts clean
                java.util.Arrays.fill(senders, null);
                java.util.Arrays.fill(receivers, null);
            }
        }
    }

    /** @return {@code count} loopback UDP endpoints that were free a moment ago. */
    public static List<String> freeUdpEndpoints(final int count)
    {
        final List<String> endpoints = new ArrayList<>();
        final List<DatagramSocket> sockets = new ArrayList<>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                final DatagramSocket socket = new DatagramSocket(0, InetAddress.getLoopbackAddress());
                sockets.add(socket);
                endpoints.add(LOOPBACK + ":" + socket.getLocalPort());
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
        finally
        {
            sockets.forEach(DatagramSocket::close);
        }
        return endpoints;
    }

    /** Close senders, receivers, then their drivers and event loops; idempotent. */
    @Override
    public void close()
    {
        for (int i = closeables.size() - 1; i >= 0; i--)
        {
            CloseHelper.quietClose(closeables.get(i));
        }
        closeables.clear();
    }
}
