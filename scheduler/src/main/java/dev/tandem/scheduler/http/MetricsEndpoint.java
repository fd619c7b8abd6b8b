package dev.tandem.scheduler.http;

import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;

/** GET /metrics: Prometheus text exposition. */
final class MetricsEndpoint implements Endpoint {
    private final HttpApiContext context;

    MetricsEndpoint(HttpApiContext context) {
        this.context = context;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        exchange.sendText(HttpResponseStatus.OK, ApiMetrics.CONTENT_TYPE,
                context.metrics().render(context.engine().queueDepths()));
    }
}
