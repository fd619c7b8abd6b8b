package dev.tandem.scheduler.http;

import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;

/** Netty's aggregator, answering a body over the limit with an OpenAI-shaped 413 (then closing, as Netty does). */
final class BoundedBodyAggregator extends HttpObjectAggregator {
    private final int maxBodyBytes;
    private final ApiMetrics metrics;

    BoundedBodyAggregator(int maxBodyBytes, ApiMetrics metrics) {
        super(maxBodyBytes);
        this.maxBodyBytes = maxBodyBytes;
        this.metrics = metrics;
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        new HttpExchange(ctx.channel(), false, "other", metrics).sendError(ApiError.bodyTooLarge(maxBodyBytes));
    }
}
