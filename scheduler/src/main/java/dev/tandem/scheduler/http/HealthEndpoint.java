package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.scheduler.engine.CompletionEngine;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * GET /health: 200 while the engine takes requests, 503 once it is closed or failed; a
 * disaggregated engine adds each pool's live and total machines, so reduced capacity shows.
 */
final class HealthEndpoint implements Endpoint {
    private final CompletionEngine engine;

    HealthEndpoint(CompletionEngine engine) {
        this.engine = engine;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        boolean healthy = engine.healthy();
        ObjectNode body = JsonNodeFactory.instance.objectNode().put("status", healthy ? "ok" : "unavailable");
        java.util.Map<String, int[]> machines = engine.machines();
        if (!machines.isEmpty()) {
            ObjectNode pools = body.putObject("machines");
            new java.util.TreeMap<>(machines).forEach((pool, counts) ->
                    pools.putObject(pool).put("alive", counts[0]).put("total", counts[1]));
        }
        exchange.sendJson(healthy ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, body);
    }
}
