package dev.tandem.transport.control;

import dev.tandem.transport.control.proto.ControlMessage;
import dev.tandem.transport.control.proto.NodeState;
import dev.tandem.transport.control.proto.Pong;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.codec.protobuf.ProtobufDecoder;
import io.netty.handler.codec.protobuf.ProtobufEncoder;

/** The control plane's wire: one {@link ControlMessage} per frame behind a 4-byte big-endian length. */
final class ControlCodec
{
    static final int LENGTH_FIELD_LENGTH = 4;
    static final int MAX_MESSAGE_LENGTH = 1 << 20; // control messages are a few hundred bytes

    private ControlCodec()
    {
    }

    /** Framing and protobuf codecs, then {@code handler}, which sees {@link ControlMessage}s. */
    static void initPipeline(final ChannelPipeline pipeline, final ChannelHandler handler)
    {
        pipeline.addLast(
            new LengthFieldBasedFrameDecoder(MAX_MESSAGE_LENGTH, 0, LENGTH_FIELD_LENGTH, 0, LENGTH_FIELD_LENGTH),
            new ProtobufDecoder(ControlMessage.getDefaultInstance()),
            new LengthFieldPrepender(LENGTH_FIELD_LENGTH),
            new ProtobufEncoder(),
            handler);
    }

    /** The answer to a ping with {@code correlationId}, from either side. */
    static ControlMessage pong(final long correlationId, final String nodeId, final NodeState state, final long epoch)
    {
        return ControlMessage.newBuilder()
            .setCorrelationId(correlationId)
            .setPong(Pong.newBuilder().setNodeId(nodeId).setState(state).setClusterEpoch(epoch))
            .build();
    }
}
