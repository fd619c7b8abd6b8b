package dev.tandem.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;

import java.util.List;

/**
 * {@link M2nSender} over Netty/TCP, the measured baseline for Aeron: one connection to each
 * receiver, opened at construction to the receiver endpoints of the topology ({@code host:port},
 * where each {@link NettyM2nReceiver} listens), each introduced by a {@link HelloFlyweight}. The
 * {@link NettyNode} is the caller's and outlives this sender.
 */
public final class NettyM2nSender extends EndpointM2nSender<NettyEndpoint>
{
    public NettyM2nSender(final M2nContext ctx, final NettyNode node, final int senderId)
    {
        super(new NettyEndpoint(ctx, senderId, true), senderId);
        final List<String> receivers = ctx.topology().receiverEndpoints();
        try
        {
            for (int r = 0; r < receivers.size(); r++)
            {
                connect(node, r, receivers.get(r));
            }
        }
        catch (final RuntimeException ex)
        {
            endpoint.close();
            throw ex;
        }
    }

    private void connect(final NettyNode node, final int receiverId, final String hostPort)
    {
        final int colon = hostPort.lastIndexOf(':');
        if (colon < 0)
        {
            throw new IllegalArgumentException("receiver endpoint is not host:port: " + hostPort);
        }
        endpoint.peerName(receiverId, "receiver " + receiverId + " (tcp " + hostPort + ")");
        final ChannelFuture connect = new Bootstrap()
            .group(node.group())
            .channel(node.socketChannelClass())
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
            .option(ChannelOption.RCVBUF_ALLOCATOR, NettyEndpoint.recvAllocator())
            .option(ChannelOption.WRITE_BUFFER_WATER_MARK, endpoint.writeWaterMark())
            .handler(new ChannelInitializer<>()
            {
                @Override
                protected void initChannel(final Channel channel)
                {
                    endpoint.initPipeline(channel, receiverId);
                }
            })
            .connect(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
        endpoint.attach(receiverId, connect.channel());
        connect.addListener(future ->
        {
            if (!future.isSuccess())
            {
                endpoint.lost(receiverId, "connect to " + hostPort + " failed: " + future.cause());
            }
        });
    }

    /** Wait until every receiver's connection is up; a deployment calls this once at start. */
    public NettyM2nSender awaitConnected(final long timeoutNs)
    {
        endpoint.awaitConnected(timeoutNs);
        return this;
    }
}
