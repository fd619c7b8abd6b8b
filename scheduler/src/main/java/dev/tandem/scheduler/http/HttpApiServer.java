package dev.tandem.scheduler.http;

import dev.tandem.core.TandemException;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI-compatible HTTP API on Netty, in front of a
 * {@link dev.tandem.scheduler.engine.CompletionEngine}. {@link #close} stops listening and
 * closes the connections; the engine is the caller's to close (after the server).
 */
public final class HttpApiServer implements AutoCloseable {
    private static final long QUIET_PERIOD_MS = 100;
    private static final long SHUTDOWN_TIMEOUT_MS = 5_000;

    private final EventLoopGroup group;
    private final Channel serverChannel;

    private HttpApiServer(EventLoopGroup group, Channel serverChannel) {
        this.group = group;
        this.serverChannel = serverChannel;
    }

    /** Binds {@code host:port} (port 0: an ephemeral one, see {@link #port}) and starts serving. */
    public static HttpApiServer start(HttpApiContext context, String host, int port) {
        // The time-zone rules, loaded now: the first log line formats a time and reads them from a
        // file, and when descriptors run out (EMFILE) that read fails inside Netty's warning about
        // the failed accept, which then kills the accepting event loop for good.
        java.time.ZoneId.systemDefault().getRules();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(context.ioThreads(),
                new DefaultThreadFactory("tandem-http", true), NioIoHandler.newFactory());
        try {
            Channel channel = new ServerBootstrap()
                    .group(group)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new HttpApiInitializer(context))
                    .bind(host, port).syncUninterruptibly().channel();
            return new HttpApiServer(group, channel);
        } catch (Exception e) { // bind() rethrows the socket's IOException unchecked
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw new TandemException("cannot listen on " + host + ":" + port + ": " + e.getMessage());
        }
    }

    /** The bound port. */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    @Override
    public void close() {
        serverChannel.close().syncUninterruptibly();
        group.shutdownGracefully(QUIET_PERIOD_MS, SHUTDOWN_TIMEOUT_MS, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
}
