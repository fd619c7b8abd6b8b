package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.scheduler.engine.ServedModel;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * GET /v1/models: the one served model, with vLLM's max_model_len and our vocab_size (load
 * generators draw random prompts from it); GET /v1/models/{id}: that model alone.
 */
final class ModelsEndpoint implements Endpoint {
    private final HttpApiContext context;
    private final long created = System.currentTimeMillis() / 1000; // s

    ModelsEndpoint(HttpApiContext context) {
        this.context = context;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        ObjectNode body = JsonNodeFactory.instance.objectNode().put("object", "list");
        body.putArray("data").add(model(context.engine().model()));
        exchange.sendJson(HttpResponseStatus.OK, body);
    }

    /** GET /v1/models/{id}: the served model, or 404 for any other id. */
    void one(HttpExchange exchange, String id) {
        ServedModel model = context.engine().model();
        if (!model.name().equals(id)) {
            throw ApiError.modelNotFound(id, model.name());
        }
        exchange.sendJson(HttpResponseStatus.OK, model(model));
    }

    private ObjectNode model(ServedModel model) {
        return JsonNodeFactory.instance.objectNode()
                .put("id", model.name())
                .put("object", "model")
                .put("created", created)
                .put("owned_by", "tandem")
                .put("max_model_len", model.contextLength())
                .put("vocab_size", model.vocabSize());
    }
}
