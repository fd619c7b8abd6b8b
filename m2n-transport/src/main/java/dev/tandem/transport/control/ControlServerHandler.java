package dev.tandem.transport.control;

import dev.tandem.transport.control.proto.ControlMessage;
import dev.tandem.transport.control.proto.Error;
import dev.tandem.transport.control.proto.RegisterReply;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;

/**
 * One control connection on the server: answers Register and Ping, and passes Pongs to the
 * pings the server sent. Work is a map lookup or two, so it runs on the event loop.
 */
final class ControlServerHandler extends SimpleChannelInboundHandler<ControlMessage>
{
    private final ControlServer server;
    private final PendingRequests pending = new PendingRequests(); // the server's pings on this connection
    private String nodeId = "";

    ControlServerHandler(final ControlServer server)
    {
        this.server = server;
    }

    @Override
    protected void channelRead0(final ChannelHandlerContext ctx, final ControlMessage message)
    {
        final long id = message.getCorrelationId();
        switch (message.getBodyCase())
        {
            case REGISTER ->
            {
                final NodeRegistration node = NodeRegistration.fromProto(message.getRegister());
                final RegisterReply reply = !nodeId.isEmpty() && !nodeId.equals(node.nodeId()) ?
                    server.refused("this connection already registered node " + nodeId) :
                    server.admit(node, ctx.channel(), pending);
                if (reply.getAccepted())
                {
                    nodeId = node.nodeId();
                }
                ctx.writeAndFlush(ControlMessage.newBuilder().setCorrelationId(id).setRegisterReply(reply).build());
            }
            case PING ->
            {
                server.onState(nodeId, ctx.channel(), message.getPing().getState());
                ctx.writeAndFlush(server.pong(id));
            }
            case PONG -> pending.complete(message);
            default -> ctx.writeAndFlush(ControlMessage.newBuilder().setCorrelationId(id)
                .setError(Error.newBuilder().setReason("unexpected " + message.getBodyCase() + " from a client"))
                .build());
        }
    }

    @Override
    public void channelInactive(final ChannelHandlerContext ctx)
    {
        pending.closeAll("control connection of node " + (nodeId.isEmpty() ? "(unregistered)" : nodeId) + " closed");
        server.onClosed(nodeId, ctx.channel());
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
    {
        ctx.close(); // undecodable input or a broken connection: the node registers again
    }
}
