package dev.tandem.scheduler.http;

import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;

/** GET /metrics: Prometheus text format, or OpenMetrics where the scraper's Accept header asks for it. */
final class MetricsEndpoint implements Endpoint {
    private final HttpApiContext context;

    MetricsEndpoint(HttpApiContext context) {
        this.context = context;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        ApiMetrics.Exposition exposition = context.metrics().render(context.engine().queueDepths(),
                context.engine().kvCacheUsage(),
                context.engine().preemptions(), context.engine().machines(), request.headers().get(HttpHeaderNames.ACCEPT));
        exchange.sendText(HttpResponseStatus.OK, exposition.contentType(), exposition.body());
    }
}
