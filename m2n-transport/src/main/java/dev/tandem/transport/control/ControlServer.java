package dev.tandem.transport.control;

import dev.tandem.transport.NettyNode;
import dev.tandem.transport.control.proto.ControlMessage;
import dev.tandem.transport.control.proto.NodeState;
import dev.tandem.transport.control.proto.Ping;
import dev.tandem.transport.control.proto.Pong;
import dev.tandem.transport.control.proto.RegisterReply;
import dev.tandem.transport.control.proto.Role;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The cluster's control plane server (run by the scheduler): admits nodes that loaded the same
 * model and are at the same cluster epoch, refuses the others with a reason, keeps who is
 * registered, and answers and sends pings. Protobuf over Netty; the {@link NettyNode} is the
 * caller's and outlives this server.
 */
public final class ControlServer implements AutoCloseable
{
    private static final long CLOSE_TIMEOUT_MS = 5_000;

    private final ControlServerConfig config;
    private final Channel serverChannel;
    private final ChannelGroup connections = new DefaultChannelGroup("control", GlobalEventExecutor.INSTANCE);
    private final ConcurrentMap<String, Member> members = new ConcurrentHashMap<>();
    private volatile NodeState state = NodeState.READY;

    /** A registered node and the connection it registered on. */
    record Member(NodeRegistration registration, Channel channel, PendingRequests pending, NodeState state)
    {
        Member withState(final NodeState newState)
        {
            return new Member(registration, channel, pending, newState);
        }
    }

    public ControlServer(final NettyNode node, final ControlServerConfig config)
    {
        this.config = config;
        this.serverChannel = new ServerBootstrap()
            .group(node.group())
            .channel(node.serverChannelClass())
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childHandler(new ChannelInitializer<>()
            {
                @Override
                protected void initChannel(final Channel channel)
                {
                    connections.add(channel);
                    ControlCodec.initPipeline(channel.pipeline(), new ControlServerHandler(ControlServer.this));
                }
            })
            .bind(config.host(), config.port())
            .syncUninterruptibly()
            .channel();
    }

    /** @return the port this server listens on (the one it was given when the config said 0). */
    public int port()
    {
        return ((InetSocketAddress)serverChannel.localAddress()).getPort();
    }

    public long clusterEpoch()
    {
        return config.clusterEpoch();
    }

    public String modelFingerprint()
    {
        return config.modelFingerprint();
    }

    /** This server's own state, reported in its pongs. */
    public void state(final NodeState state)
    {
        this.state = state;
    }

    /** @return the nodes registered now, in no particular order. */
    public List<RegisteredNode> nodes()
    {
        return members.values().stream()
            .map(m -> new RegisteredNode(m.registration(), m.state(), String.valueOf(m.channel().remoteAddress())))
            .toList();
    }

    /**
     * Ask a registered node for its health over its control connection; blocks up to the
     * configured request timeout. Not from an event loop.
     *
     * @throws ControlException if the node is not registered, its connection is gone or it does not answer.
     */
    public Health ping(final String nodeId)
    {
        final Member member = members.get(nodeId);
        if (member == null)
        {
            throw new ControlException("node " + nodeId + " is not registered");
        }
        final long startNs = System.nanoTime();
        final ControlMessage reply = member.pending().call(member.channel(),
            ControlMessage.newBuilder().setPing(Ping.newBuilder().setNodeId(config.nodeId()).setState(state)),
            config.requestTimeout(), "node " + nodeId);
        if (!reply.hasPong())
        {
            throw new ControlException("node " + nodeId + " answered a ping with " + reply.getBodyCase());
        }
        final Pong pong = reply.getPong();
        members.computeIfPresent(nodeId, (id, m) -> m.channel() == member.channel() ? m.withState(pong.getState()) : m);
        return new Health(pong.getNodeId(), pong.getState(), pong.getClusterEpoch(), System.nanoTime() - startNs);
    }

    /** Admit or refuse a node; called on the event loop of the connection it came on. */
    RegisterReply admit(final NodeRegistration node, final Channel channel, final PendingRequests pending)
    {
        final String refusal = refusal(node);
        if (refusal != null)
        {
            return refused(refusal);
        }
        final Member[] holder = new Member[1]; // another live connection that holds this node id
        members.compute(node.nodeId(), (id, existing) ->
        {
            if (existing != null && existing.channel() != channel && existing.channel().isActive())
            {
                holder[0] = existing;
                return existing;
            }
            return new Member(node, channel, pending, NodeState.STARTING); // new, back after a lost connection, or updated
        });
        if (holder[0] != null)
        {
            return refused("node id " + node.nodeId() + " is already registered from " +
                holder[0].channel().remoteAddress());
        }
        return RegisterReply.newBuilder()
            .setAccepted(true)
            .setClusterEpoch(config.clusterEpoch())
            .setModelFingerprint(config.modelFingerprint())
            .setRegisteredNodes(members.size())
            .build();
    }

    private String refusal(final NodeRegistration node)
    {
        if (node.role() == Role.ROLE_UNSPECIFIED || node.role() == Role.UNRECOGNIZED)
        {
            return "role is required (attention, expert or scheduler)";
        }
        if (node.nodeId().isEmpty())
        {
            return "node id is required";
        }
        if (!node.modelFingerprint().equals(config.modelFingerprint()))
        {
            return "model fingerprint mismatch: node " + node.nodeId() + " loaded " +
                quoted(node.modelFingerprint()) + " but the cluster serves " + quoted(config.modelFingerprint());
        }
        if (node.clusterEpoch() != config.clusterEpoch())
        {
            return "cluster epoch mismatch: node " + node.nodeId() + " is at epoch " + node.clusterEpoch() +
                " but the cluster is at epoch " + config.clusterEpoch();
        }
        return null;
    }

    RegisterReply refused(final String reason)
    {
        return RegisterReply.newBuilder()
            .setAccepted(false)
            .setReason(reason)
            .setClusterEpoch(config.clusterEpoch())
            .setModelFingerprint(config.modelFingerprint())
            .setRegisteredNodes(members.size())
            .build();
    }

    private static String quoted(final String value)
    {
        return value.isEmpty() ? "(none)" : value;
    }

    /** A node pinged and said how it is. */
    void onState(final String nodeId, final Channel channel, final NodeState nodeState)
    {
        members.computeIfPresent(nodeId, (id, m) -> m.channel() == channel ? m.withState(nodeState) : m);
    }

    /** A connection closed: its node, if it registered on it, leaves the cluster. */
    void onClosed(final String nodeId, final Channel channel)
    {
        members.computeIfPresent(nodeId, (id, m) -> m.channel() == channel ? null : m);
    }

    ControlMessage pong(final long correlationId)
    {
        return ControlCodec.pong(correlationId, config.nodeId(), state, config.clusterEpoch());
    }

    /** Stop listening and close every control connection (clients see it at once); bounded. */
    @Override
    public void close()
    {
        serverChannel.close().awaitUninterruptibly(CLOSE_TIMEOUT_MS);
        connections.close().awaitUninterruptibly(CLOSE_TIMEOUT_MS);
        members.clear();
    }
}
