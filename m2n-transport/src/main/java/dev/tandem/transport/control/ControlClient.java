package dev.tandem.transport.control;

import dev.tandem.transport.NettyNode;
import dev.tandem.transport.control.proto.ControlMessage;
import dev.tandem.transport.control.proto.NodeState;
import dev.tandem.transport.control.proto.Ping;
import dev.tandem.transport.control.proto.Pong;
import dev.tandem.transport.control.proto.RegisterReply;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.SimpleChannelInboundHandler;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * A node's connection to the control server: registers (and learns why when refused), pings,
 * and answers the server's pings with its state. Blocking calls, bounded by the request timeout;
 * when the server goes away, waiting and later calls fail at once naming the server. Not from an
 * event loop. The {@link NettyNode} is the caller's and outlives this client.
 */
public final class ControlClient implements AutoCloseable
{
    private static final long CLOSE_TIMEOUT_MS = 5_000;

    private final Channel channel;
    private final PendingRequests pending = new PendingRequests();
    private final String server;
    private final String nodeId;
    private final Supplier<NodeState> state;
    private final Duration requestTimeout;
    private volatile long clusterEpoch; // as accepted by the server, reported in pongs

    private ControlClient(final NettyNode node, final String host, final int port, final String nodeId,
        final Supplier<NodeState> state, final Duration requestTimeout)
    {
        this.server = "control server at " + host + ":" + port;
        this.nodeId = nodeId;
        this.state = state;
        this.requestTimeout = requestTimeout;
        final ChannelFuture connect = new Bootstrap()
            .group(node.group())
            .channel(node.socketChannelClass())
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int)Math.min(Integer.MAX_VALUE, requestTimeout.toMillis()))
            .handler(new ChannelInitializer<>()
            {
                @Override
                protected void initChannel(final Channel channel)
                {
                    ControlCodec.initPipeline(channel.pipeline(), new Handler());
                }
            })
            .connect(host, port);
        if (!connect.awaitUninterruptibly(requestTimeout.toMillis() + 1000) || !connect.isSuccess())
        {
            connect.channel().close();
            throw new ControlException("cannot reach " + server + ": " +
                (connect.cause() != null ? connect.cause().getMessage() : "connect timed out"), connect.cause());
        }
        this.channel = connect.channel();
    }

    /**
     * Connect to the control server.
     *
     * @param state reported in pings and pongs, read each time.
     * @throws ControlException if the server cannot be reached within the request timeout.
     */
    public static ControlClient connect(final NettyNode node, final String host, final int port, final String nodeId,
        final Supplier<NodeState> state, final Duration requestTimeout)
    {
        return new ControlClient(node, host, port, nodeId, state, requestTimeout);
    }

    /**
     * Join the cluster.
     *
     * @return the server's acceptance (cluster epoch, fingerprint, nodes registered).
     * @throws RegistrationRefusedException with the server's reason (other model, other epoch, ...).
     * @throws ControlException             if the server is gone or does not answer in time.
     */
    public RegisterReply register(final NodeRegistration registration)
    {
        final ControlMessage reply = pending.call(channel,
            ControlMessage.newBuilder().setRegister(registration.toProto()), requestTimeout, server);
        if (!reply.hasRegisterReply())
        {
            throw new ControlException(server + " answered Register with " + describe(reply));
        }
        if (!reply.getRegisterReply().getAccepted())
        {
            throw new RegistrationRefusedException(registration.nodeId(), reply.getRegisterReply().getReason());
        }
        clusterEpoch = reply.getRegisterReply().getClusterEpoch();
        return reply.getRegisterReply();
    }

    /** Ask the server how it is; also tells it how this node is. */
    public Health ping()
    {
        final long startNs = System.nanoTime();
        final ControlMessage reply = pending.call(channel,
            ControlMessage.newBuilder().setPing(Ping.newBuilder().setNodeId(nodeId).setState(state.get())),
            requestTimeout, server);
        if (!reply.hasPong())
        {
            throw new ControlException(server + " answered Ping with " + describe(reply));
        }
        final Pong pong = reply.getPong();
        return new Health(pong.getNodeId(), pong.getState(), pong.getClusterEpoch(), System.nanoTime() - startNs);
    }

    /** @return true until the connection closes, from either side. */
    public boolean isConnected()
    {
        return channel.isActive();
    }

    private static String describe(final ControlMessage reply)
    {
        return reply.hasError() ? "an error: " + reply.getError().getReason() : String.valueOf(reply.getBodyCase());
    }

    @Override
    public void close()
    {
        channel.close().awaitUninterruptibly(CLOSE_TIMEOUT_MS);
    }

    private final class Handler extends SimpleChannelInboundHandler<ControlMessage>
    {
        @Override
        protected void channelRead0(final ChannelHandlerContext ctx, final ControlMessage message)
        {
            if (message.hasPing())
            {
                ctx.writeAndFlush(ControlCodec.pong(message.getCorrelationId(), nodeId, state.get(), clusterEpoch));
            }
            else
            {
                pending.complete(message);
            }
        }

        @Override
        public void channelInactive(final ChannelHandlerContext ctx)
        {
            pending.closeAll(server + " closed the connection");
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            pending.closeAll("connection to " + server + " failed: " + cause);
            ctx.close();
        }
    }
}
