package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.scheduler.engine.ServedModel;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * GET /v1/models: the one served model, with vLLM's max_model_len and our vocab_size (load
 * generators draw random prompts from it).
 */
final class ModelsEndpoint implements Endpoint {
    private final HttpApiContext context;
    private final long created = System.currentTimeMillis() / 1000; // s

    ModelsEndpoint(HttpApiContext context) {
        this.context = context;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        ServedModel model = context.engine().model();
        ObjectNode body = JsonNodeFactory.instance.objectNode().put("object", "list");
        body.putArray("data").addObject()
                .put("id", model.name())
                .put("object", "model")
                .put("created", created)
                .put("owned_by", "tandem")
                .put("max_model_len", model.contextLength())
                .put("vocab_size", model.vocabSize());
        exchange.sendJson(HttpResponseStatus.OK, body);
    }
}
