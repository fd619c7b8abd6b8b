package dev.tandem.transport;

import org.agrona.CloseHelper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/** Builds M senders and N receivers over one transport kind, and closes everything it built. */
final class M2nHarness implements AutoCloseable
{
    enum Kind
    {
        IN_PROCESS, AERON_IPC, AERON_UDP
    }

    final M2nSender[] senders;
    final M2nReceiver[] receivers;
    private final List<AutoCloseable> closeables = new ArrayList<>(); // closed in reverse order

    M2nHarness(final Kind kind, final int m, final int n, final M2nContext ctx)
    {
        senders = new M2nSender[m];
        receivers = new M2nReceiver[n];
        try
        {
            switch (kind)
            {
                case IN_PROCESS ->
                {
                    final InProcessM2n hub = new InProcessM2n(ctx.topology(M2nTopology.ipc(m, n)));
                    closeables.add(hub);
                    for (int s = 0; s < m; s++)
                    {
                        senders[s] = hub.sender(s);
                    }
                    for (int r = 0; r < n; r++)
                    {
                        receivers[r] = hub.receiver(r);
                    }
                }
                case AERON_IPC ->
                {
                    ctx.topology(M2nTopology.ipc(m, n));
                    final AeronNode node = AeronNode.launch(ctx.config()); // one driver: IPC needs it shared
                    closeables.add(node);
                    buildAeron(ctx, i -> node, m, n);
                }
                case AERON_UDP ->
                {
                    ctx.topology(M2nTopology.udp(freeEndpoints(m), freeEndpoints(n)));
                    final AeronNode[] nodes = new AeronNode[m + n]; // one driver per node, as across hosts
                    for (int i = 0; i < m + n; i++)
                    {
                        nodes[i] = AeronNode.launch(ctx.config());
                        closeables.add(nodes[i]);
                    }
                    buildAeron(ctx, i -> nodes[i], m, n);
                }
            }
        }
        catch (final RuntimeException ex)
        {
            close();
            throw ex;
        }
    }

    private void buildAeron(final M2nContext ctx, final java.util.function.IntFunction<AeronNode> nodeOf,
        final int m, final int n)
    {
        final AeronM2nSender[] aeronSenders = new AeronM2nSender[m];
        final AeronM2nReceiver[] aeronReceivers = new AeronM2nReceiver[n];
        for (int s = 0; s < m; s++)
        {
            aeronSenders[s] = new AeronM2nSender(ctx, nodeOf.apply(s).aeron(), s);
            senders[s] = aeronSenders[s];
            closeables.add(aeronSenders[s]);
        }
        for (int r = 0; r < n; r++)
        {
            aeronReceivers[r] = new AeronM2nReceiver(ctx, nodeOf.apply(m + r).aeron(), r);
            receivers[r] = aeronReceivers[r];
            closeables.add(aeronReceivers[r]);
        }
        final long timeoutNs = 10_000_000_000L;
        for (final AeronM2nSender sender : aeronSenders)
        {
            sender.awaitConnected(timeoutNs);
        }
        for (final AeronM2nReceiver receiver : aeronReceivers)
        {
            receiver.awaitConnected(timeoutNs);
        }
    }

    static List<String> freeEndpoints(final int count)
    {
        final List<String> endpoints = new ArrayList<>();
        final List<DatagramSocket> sockets = new ArrayList<>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                final DatagramSocket socket = new DatagramSocket(0, InetAddress.getLoopbackAddress());
                sockets.add(socket);
                endpoints.add("127.0.0.1:" + socket.getLocalPort());
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
