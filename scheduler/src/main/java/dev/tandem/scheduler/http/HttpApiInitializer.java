package dev.tandem.scheduler.http;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;

/** Each connection's pipeline: HTTP/1.1 codec, whole bodies up to the limit (413 beyond), the API. */
final class HttpApiInitializer extends ChannelInitializer<SocketChannel> {
    private final HttpApiContext context;
    private final HttpApiHandler handler;

    HttpApiInitializer(HttpApiContext context) {
        this.context = context;
        this.handler = new HttpApiHandler(context);
    }

    @Override
    protected void initChannel(SocketChannel channel) {
        ChannelPipeline pipeline = channel.pipeline();
        pipeline.addLast("codec", new HttpServerCodec());
        pipeline.addLast("aggregator", new BoundedBodyAggregator(context.maxBodyBytes(), context.metrics()));
        pipeline.addLast("api", handler);
    }
}
