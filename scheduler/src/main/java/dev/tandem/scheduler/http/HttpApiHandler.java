package dev.tandem.scheduler.http;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;

import java.util.Map;

/**
 * Routes each request by path and method to its {@link Endpoint}, and turns what they throw
 * into OpenAI error responses. Shared by all channels: it keeps no per-connection state.
 */
@ChannelHandler.Sharable
final class HttpApiHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final String UNKNOWN_ENDPOINT = "other";

    private record Route(HttpMethod method, Endpoint endpoint) {
    }

    private final HttpApiContext context;
    private final Map<String, Route> routes;

    HttpApiHandler(HttpApiContext context) {
        this.context = context;
        this.routes = Map.of(
                "/v1/completions", new Route(HttpMethod.POST, new CompletionsEndpoint(context, false)),
                "/v1/chat/completions", new Route(HttpMethod.POST, new CompletionsEndpoint(context, true)),
                "/v1/models", new Route(HttpMethod.GET, new ModelsEndpoint(context)),
                "/health", new Route(HttpMethod.GET, new HealthEndpoint(context.engine())),
                "/metrics", new Route(HttpMethod.GET, new MetricsEndpoint(context)));
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        String path = new QueryStringDecoder(request.uri()).path();
        Route route = routes.get(path);
        HttpExchange exchange = new HttpExchange(ctx.channel(), HttpUtil.isKeepAlive(request),
                route == null ? UNKNOWN_ENDPOINT : path, context.metrics());
        try {
            if (request.decoderResult().isFailure()) {
                throw ApiError.badRequest("Malformed HTTP request: " + request.decoderResult().cause(), null);
            }
            if (route == null) {
                throw ApiError.pathNotFound(path);
            }
            if (!route.method().equals(request.method())) {
                throw ApiError.methodNotAllowed(request.method().name(), path, route.method().name());
            }
            route.endpoint().handle(exchange, request);
        } catch (ApiError e) {
            exchange.sendError(e);
        } catch (RuntimeException e) {
            exchange.sendError(ApiError.internal(e.toString()));
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
