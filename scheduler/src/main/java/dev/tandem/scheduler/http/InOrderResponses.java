package dev.tandem.scheduler.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.util.ReferenceCountUtil;

import java.util.ArrayDeque;

/**
 * HTTP/1.1 pipelining answered in order: a request that arrives while the connection's previous
 * one is still being answered (a stream, a completion in the engine) waits here, and goes on to
 * the API once that response's last byte is written ({@link #responseDone}). Without this, a
 * quick answer could overtake a slow one, or two streams interleave. One per connection.
 */
final class InOrderResponses extends ChannelDuplexHandler {
    /** The user event that says the current response is complete. */
    private static final Object DONE = new Object();

    private final ArrayDeque<FullHttpRequest> waiting = new ArrayDeque<>();
    private boolean answering;

    /** From any thread, once a response's last part is written: the next pipelined request may go. */
    static void responseDone(Channel channel) {
        channel.eventLoop().execute(() -> channel.pipeline().fireUserEventTriggered(DONE));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest request)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (answering) {
            waiting.add(request);
            return;
        }
        answering = true;
        ctx.fireChannelRead(request);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
        if (event != DONE) {
            ctx.fireUserEventTriggered(event);
            return;
        }
        answering = false;
        FullHttpRequest next = waiting.poll();
        if (next != null && ctx.channel().isActive()) {
            answering = true;
            ctx.fireChannelRead(next);
        } else if (next != null) {
            ReferenceCountUtil.release(next);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        for (FullHttpRequest request; (request = waiting.poll()) != null; ) {
            ReferenceCountUtil.release(request);
        }
        ctx.fireChannelInactive();
    }
}
