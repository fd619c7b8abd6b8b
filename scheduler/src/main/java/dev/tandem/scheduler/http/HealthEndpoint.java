package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.tandem.scheduler.engine.CompletionEngine;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;

/** GET /health: 200 while the engine takes requests, 503 once it is closed or failed. */
final class HealthEndpoint implements Endpoint {
    private final CompletionEngine engine;

    HealthEndpoint(CompletionEngine engine) {
        this.engine = engine;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        boolean healthy = engine.healthy();
        exchange.sendJson(healthy ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
                JsonNodeFactory.instance.objectNode().put("status", healthy ? "ok" : "unavailable"));
    }
}
