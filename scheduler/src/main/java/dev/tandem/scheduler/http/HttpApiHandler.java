package dev.tandem.scheduler.http;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
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

    /** @param methods the methods it answers; the first is named in a 405's Allow header */
    private record Route(java.util.List<HttpMethod> methods, Endpoint endpoint) {
        Route(HttpMethod method, Endpoint endpoint) {
            this(java.util.List.of(method), endpoint);
        }
    }

    private static final String MODEL_PREFIX = "/v1/models/";
    /** The routes that read a JSON body: they want it declared so (415 otherwise). */
    private static final java.util.Set<String> JSON_ROUTES = java.util.Set.of("/v1/completions", "/v1/chat/completions",
            "/tokenize", "/detokenize");
    private static final String VERSION = version();

    private final HttpApiContext context;
    private final Map<String, Route> routes;
    private final ModelsEndpoint model;

    HttpApiHandler(HttpApiContext context) {
        this.context = context;
        this.routes = Map.of(
                "/v1/completions", new Route(HttpMethod.POST, new CompletionsEndpoint(context, false)),
                "/v1/chat/completions", new Route(HttpMethod.POST, new CompletionsEndpoint(context, true)),
                "/v1/models", new Route(HttpMethod.GET, new ModelsEndpoint(context)),
                "/health", new Route(HttpMethod.GET, new HealthEndpoint(context.engine())),
                "/metrics", new Route(HttpMethod.GET, new MetricsEndpoint(context)),
                "/tokenize", new Route(HttpMethod.POST, new TokenizeEndpoint(context, false)),
                "/detokenize", new Route(HttpMethod.POST, new TokenizeEndpoint(context, true)),
                "/version", new Route(HttpMethod.GET, (exchange, request) -> exchange.sendJson(HttpResponseStatus.OK,
                        com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("version", VERSION))),
                "/ping", new Route(java.util.List.of(HttpMethod.GET, HttpMethod.POST), new HealthEndpoint(context.engine())));
        this.model = new ModelsEndpoint(context);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        String path = new QueryStringDecoder(request.uri()).path();
        Route route = routes.get(path);
        if (route == null && path.startsWith(MODEL_PREFIX) && path.length() > MODEL_PREFIX.length()) {
            String id = path.substring(MODEL_PREFIX.length());
            route = new Route(HttpMethod.GET, (exchange, r) -> model.one(exchange, id)); // GET /v1/models/{id}
        }
        String label = route == null ? UNKNOWN_ENDPOINT : path.startsWith(MODEL_PREFIX) ? MODEL_PREFIX + "{id}" : path;
        // after a request the decoder could not read, what follows on the connection cannot be trusted: close
        boolean malformed = request.decoderResult().isFailure();
        HttpExchange exchange = new HttpExchange(ctx.channel(), HttpUtil.isKeepAlive(request) && !malformed, label,
                context.metrics()); // one metrics label per route, whatever the id
        try {
            if (malformed) {
                Throwable cause = request.decoderResult().cause();
                if (cause instanceof io.netty.handler.codec.http.TooLongHttpHeaderException) {
                    throw ApiError.headersTooLarge(cause.getMessage());
                }
                if (cause instanceof io.netty.handler.codec.http.TooLongHttpLineException) {
                    throw ApiError.uriTooLong(cause.getMessage());
                }
                throw ApiError.badRequest("Malformed HTTP request: " + cause, null);
            }
            if (route == null) {
                throw ApiError.pathNotFound(path);
            }
            String origin = request.headers().get(HttpHeaderNames.ORIGIN);
            if (!context.originAllowed(origin)) {
                throw ApiError.originNotAllowed(origin);
            }
            exchange.allowOrigin(origin);
            if (origin != null && request.method().equals(HttpMethod.OPTIONS)) {
                exchange.sendPreflight(); // CORS: what the browser may send next
                return;
            }
            if (path.startsWith("/v1/") && !context.authorized(request.headers().get(HttpHeaderNames.AUTHORIZATION))) {
                throw ApiError.unauthorized();
            }
            if (!route.methods().contains(request.method())) {
                throw ApiError.methodNotAllowed(request.method().name(), path, route.methods().getFirst().name());
            }
            if (JSON_ROUTES.contains(path)) {
                String type = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
                if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
                    throw ApiError.unsupportedMediaType(type);
                }
            }
            route.endpoint().handle(exchange, request);
        } catch (ApiError e) {
            exchange.sendError(e);
        } catch (RuntimeException e) {
            exchange.sendError(ApiError.internal(e.toString()));
        }
    }

    /** The jar's Implementation-Version, or the build's when run from classes. */
    private static String version() {
        String v = HttpApiHandler.class.getPackage().getImplementationVersion();
        return v != null ? v : "0.1.0-SNAPSHOT";
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
