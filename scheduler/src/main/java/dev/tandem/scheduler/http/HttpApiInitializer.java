package dev.tandem.scheduler.http;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;

/**
 * Each connection's pipeline: HTTP/1.1 codec, a deadline for each request, whole bodies up to the
 * limit (413 beyond), the API. Past {@code maxConnections} open at once, a new one is answered
 * 503 and closed.
 */
final class HttpApiInitializer extends ChannelInitializer<SocketChannel> {
    private static final byte[] TOO_MANY = tooMany();

    private final HttpApiContext context;
    private final HttpApiHandler handler;
    private final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();

    HttpApiInitializer(HttpApiContext context) {
        this.context = context;
        this.handler = new HttpApiHandler(context);
    }

    /** A whole 503 response in OpenAI's error shape, written before any HTTP codec is set up. */
    private static byte[] tooMany() {
        String body = "{\"error\":{\"message\":\"Too many connections\",\"type\":\"service_unavailable\","
                + "\"param\":null,\"code\":\"too_many_connections\"}}";
        return ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    @Override
    protected void initChannel(SocketChannel channel) {
        if (open.incrementAndGet() > context.limits().maxConnections()) {
            open.decrementAndGet();
            channel.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(TOO_MANY))
                    .addListener(io.netty.channel.ChannelFutureListener.CLOSE);
            return;
        }
        channel.closeFuture().addListener(f -> open.decrementAndGet());
        ChannelPipeline pipeline = channel.pipeline();
        pipeline.addLast("codec", new HttpServerCodec());
        pipeline.addLast("deadline", new RequestDeadlineHandler(context.limits().requestTimeoutMs()));
        pipeline.addLast("aggregator", new BoundedBodyAggregator(context.maxBodyBytes(), context.metrics()));
        pipeline.addLast("in-order", new InOrderResponses());
        pipeline.addLast("api", handler);
    }
}
