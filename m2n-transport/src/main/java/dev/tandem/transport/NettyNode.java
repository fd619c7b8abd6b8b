package dev.tandem.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.netty.util.internal.logging.JdkLoggerFactory;

import java.util.concurrent.TimeUnit;

/**
 * One node's Netty I/O: an event loop group (epoll where the native transport loads, NIO
 * otherwise) and the matching channel classes. Shared by the control plane and the Netty data
 * plane of one process; whoever launched it closes it after the channels that use it.
 */
public final class NettyNode implements AutoCloseable
{
    private static final long SHUTDOWN_TIMEOUT_MS = 5_000;

    static
    {
        // Tandem logs through java.util.logging. Left alone, Netty picks SLF4J when slf4j-api is on the
        // class path (a dependency of a dependency) and, with no provider, prints a warning at start.
        InternalLoggerFactory.setDefaultFactory(JdkLoggerFactory.INSTANCE);
    }

    private final EventLoopGroup group;
    private final boolean epoll;

    private NettyNode(final EventLoopGroup group, final boolean epoll)
    {
        this.group = group;
        this.epoll = epoll;
    }

    /** @param ioThreads event loop threads; one per node is plenty for a handful of connections. */
    public static NettyNode launch(final int ioThreads)
    {
        return launch(ioThreads, Epoll.isAvailable());
    }

    /** @param useEpoll false forces NIO (epoll is used only if it is also available). */
    public static NettyNode launch(final int ioThreads, final boolean useEpoll)
    {
        final boolean epoll = useEpoll && Epoll.isAvailable();
        final IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new NettyNode(
            new MultiThreadIoEventLoopGroup(ioThreads, new DefaultThreadFactory("tandem-netty", true), factory), epoll);
    }

    /** @return true where the native epoll transport loads (Linux, native access enabled). */
    public static boolean epollAvailable()
    {
        return Epoll.isAvailable();
    }

    public EventLoopGroup group()
    {
        return group;
    }

    /** @return true on the native epoll transport, false on NIO. */
    public boolean isEpoll()
    {
        return epoll;
    }

    public Class<? extends SocketChannel> socketChannelClass()
    {
        return epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    public Class<? extends ServerChannel> serverChannelClass()
    {
        return epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /** Stop the event loops without a quiet period and wait for them, bounded. */
    @Override
    public void close()
    {
        group.shutdownGracefully(0, SHUTDOWN_TIMEOUT_MS, TimeUnit.MILLISECONDS)
            .awaitUninterruptibly(2 * SHUTDOWN_TIMEOUT_MS);
    }
}
