package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.scheduler.engine.ServedModel;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;


/**
 * vLLM's POST /tokenize ({@code prompt} or chat {@code messages} to ids: {@code tokens},
 * {@code count}, {@code max_model_len}) and POST /detokenize ({@code tokens} to {@code prompt}),
 * through the served model's tokenizer.
 */
final class TokenizeEndpoint implements Endpoint {
    private final HttpApiContext context;
    private final boolean detokenize;

    TokenizeEndpoint(HttpApiContext context, boolean detokenize) {
        this.context = context;
        this.detokenize = detokenize;
    }

    @Override
    public void handle(HttpExchange exchange, FullHttpRequest request) {
        JsonNode body = CompletionsEndpoint.body(request);
        if (body == null || !body.isObject()) {
            throw ApiError.badRequest("The request body must be a JSON object", null);
        }
        ServedModel model = context.engine().model();
        String asked = new JsonFields(body).string("model");
        if (asked != null && !asked.equals(model.name())) {
            throw ApiError.modelNotFound(asked, model.name());
        }
        TextCodec codec = context.codec();
        if (codec == null) {
            throw ApiError.badRequest("this model has no tokenizer.json", detokenize ? "tokens" : "prompt");
        }
        OffLoop.run(exchange, () -> detokenize ? detokenize(body, codec, model) : tokenize(body, codec, model),
                answer -> exchange.sendJson(HttpResponseStatus.OK, answer));
    }

    private static ObjectNode tokenize(JsonNode body, TextCodec codec, ServedModel model) {
        JsonFields f = new JsonFields(body);
        int[] ids;
        if (body.has("messages")) {
            // nothing is sampled: no seed is drawn
            Prompt.Chat chat = (Prompt.Chat) CompletionParamsParser.parse(messagesOnly(body), true, () -> 0).prompt();
            ids = codec.encodeChat(chat.messages());
        } else {
            JsonNode prompt = body.get("prompt");
            if (prompt == null || !prompt.isTextual()) {
                throw ApiError.badRequest("'prompt' must be a string (or give 'messages')", "prompt");
            }
            Boolean special = f.bool("add_special_tokens");
            ids = codec.encode(prompt.asText(), special == null || special);
        }
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("count", ids.length).put("max_model_len", model.contextLength());
        var tokens = out.putArray("tokens");
        for (int id : ids) {
            tokens.add(id);
        }
        return out;
    }

    /** The chat parser reads only the messages; the rest of a /tokenize body is not a completion's. */
    private static JsonNode messagesOnly(JsonNode body) {
        ObjectNode copy = JsonNodeFactory.instance.objectNode();
        copy.set("messages", body.get("messages"));
        return copy;
    }

    private static ObjectNode detokenize(JsonNode body, TextCodec codec, ServedModel model) {
        JsonNode tokens = body.get("tokens");
        if (tokens == null || !tokens.isArray()) {
            throw ApiError.badRequest("'tokens' must be an array of token ids", "tokens");
        }
        TextCodec.Detokenizer decoder = codec.newDetokenizer();
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < tokens.size(); i++) {
            JsonNode id = tokens.get(i);
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.intValue() < 0 || id.intValue() >= model.vocabSize()) {
                throw ApiError.badRequest("'tokens' element " + i + " is " + id + ", not an id in [0, "
                        + model.vocabSize() + ")", "tokens");
            }
            text.append(decoder.next(id.intValue()));
        }
        text.append(decoder.flush());
        return JsonNodeFactory.instance.objectNode().put("prompt", text.toString());
    }
}
