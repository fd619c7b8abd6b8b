package dev.tandem.scheduler.http;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.concurrent.TimeUnit;

/**
 * Closes a connection that is not answered and does not finish sending a request within
 * {@code timeoutMs}: from the moment it opens, and again from the end of each response (an idle
 * keep-alive connection). The clock stops while a complete request is being answered, however
 * long a stream runs. A client that sends its headers a byte at a time (slowloris) or holds a
 * connection open without asking anything loses it within the timeout.
 */
final class RequestDeadlineHandler extends ChannelDuplexHandler {
    private final long timeoutMs;
    private ScheduledFuture<?> deadline;
    private int unanswered; // requests read whose responses are not all written (pipelining)

    RequestDeadlineHandler(long timeoutMs) {
        this.timeoutMs = timeoutMs;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        arm(ctx);
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof LastHttpContent) {
            unanswered++;
            disarm(); // the request is complete: answering it takes as long as it takes
        }
        super.channelRead(ctx, msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (msg instanceof LastHttpContent && --unanswered <= 0) {
            unanswered = 0;
            arm(ctx); // all answered: the connection idles until the next request
        }
        super.write(ctx, msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        disarm();
        super.channelInactive(ctx);
    }

    private void arm(ChannelHandlerContext ctx) {
        disarm();
        deadline = ctx.executor().schedule(() -> {
            ctx.close();
        }, timeoutMs, TimeUnit.MILLISECONDS);
    }

    private void disarm() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }
}
