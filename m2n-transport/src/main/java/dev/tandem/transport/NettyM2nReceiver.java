package dev.tandem.transport;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.net.InetSocketAddress;

/**
 * {@link M2nReceiver} over Netty/TCP: listens at its receiver endpoint of the topology (port 0
 * picks a free one; {@link #endpoint()} says which) and takes one connection from each sender,
 * which introduces itself with a {@link HelloFlyweight}. Replies go back on the same connection.
 * The {@link NettyNode} is the caller's and outlives this receiver.
 */
public final class NettyM2nReceiver extends EndpointM2nReceiver<NettyEndpoint>
{
    private static final long CLOSE_TIMEOUT_MS = 5_000;

    private final Channel serverChannel;
    private final ChannelGroup accepted = new DefaultChannelGroup("m2n-accepted", GlobalEventExecutor.INSTANCE);
    private final String boundEndpoint;

    public NettyM2nReceiver(final M2nContext ctx, final NettyNode node, final int receiverId)
    {
        super(new NettyEndpoint(ctx, receiverId, false), receiverId);
        final String hostPort = ctx.topology().receiverEndpoints().get(receiverId);
        final int colon = hostPort.lastIndexOf(':');
        if (colon < 0)
        {
            throw new IllegalArgumentException("receiver endpoint is not host:port: " + hostPort);
        }
        if (ctx.clusterToken() == null && !isLoopback(hostPort.substring(0, colon)))
        {
            throw new IllegalArgumentException("M2N over TCP at " + hostPort + " reaches beyond loopback: its nodes " +
                "need a cluster token (--cluster-token-file FILE or " + dev.tandem.core.cluster.ClusterToken.ENV +
                "), so that no stranger can take a sender's place");
        }
        this.serverChannel = new ServerBootstrap()
            .group(node.group())
            .channel(node.serverChannelClass())
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
            .childOption(ChannelOption.RCVBUF_ALLOCATOR, NettyEndpoint.recvAllocator())
            .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, endpoint.writeWaterMark())
            .childHandler(new ChannelInitializer<>()
            {
                @Override
                protected void initChannel(final Channel channel)
                {
                    accepted.add(channel);
                    endpoint.initPipeline(channel, -1);
                }
            })
            .bind(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)))
            .syncUninterruptibly()
            .channel();
        final InetSocketAddress local = (InetSocketAddress)serverChannel.localAddress();
        this.boundEndpoint = local.getAddress().getHostAddress() + ":" + local.getPort();
        for (int s = 0; s < endpoint.peerCount(); s++)
        {
            endpoint.peerName(s, "sender " + s + " (tcp to " + boundEndpoint + ")");
        }
    }

    private static boolean isLoopback(final String host)
    {
        try
        {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        }
        catch (final java.net.UnknownHostException ex)
        {
            throw new IllegalArgumentException("receiver endpoint host " + host + " does not resolve", ex);
        }
    }

    /** @return {@code host:port} where this receiver listens, with the port it was given. */
    public String endpoint()
    {
        return boundEndpoint;
    }

    /** Wait until every sender is connected and introduced; a deployment calls this once at start. */
    public NettyM2nReceiver awaitConnected(final long timeoutNs)
    {
        endpoint.awaitConnected(timeoutNs);
        return this;
    }

    @Override
    public void close()
    {
        serverChannel.close().awaitUninterruptibly(CLOSE_TIMEOUT_MS);
        accepted.close().awaitUninterruptibly(CLOSE_TIMEOUT_MS);
        super.close();
    }
}
