package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.UUID;

/**
 * The bodies of one completion's responses, in OpenAI's (and vLLM's) shapes: a whole
 * "text_completion" / "chat.completion", or the chunks of a stream. {@code token_ids} on each
 * choice is vLLM's extension: the generated ids.
 */
final class CompletionJson {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final boolean chat;
    private final String id;
    private final long created; // s since the epoch
    private final String model;

    CompletionJson(boolean chat, String model) {
        this.chat = chat;
        this.id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        this.created = System.currentTimeMillis() / 1000;
        this.model = model;
    }

    /** {@code logprobs}: the choice's logprobs, or null for none. */
    ObjectNode whole(String text, int[] ids, int count, String finishReason, int promptTokens, ObjectNode logprobs) {
        ObjectNode body = envelope(chat ? "chat.completion" : "text_completion");
        ObjectNode choice = body.putArray("choices").addObject().put("index", 0);
        if (chat) {
            choice.putObject("message").put("role", "assistant").put("content", text);
        } else {
            choice.put("text", text);
        }
        tokenIds(choice, ids, 0, count);
        logprobs(choice, logprobs);
        choice.put("finish_reason", finishReason);
        body.set("usage", usage(promptTokens, count));
        return body;
    }

    /**
     * One stream chunk: {@code delta} text with the ids it came from; {@code finishReason} null
     * until the last. The first chat chunk also carries the assistant role.
     */
    ObjectNode chunk(String delta, int[] ids, int from, int to, String finishReason, boolean first,
                     ObjectNode logprobs) {
        ObjectNode body = envelope(chat ? "chat.completion.chunk" : "text_completion");
        ObjectNode choice = body.putArray("choices").addObject().put("index", 0);
        if (chat) {
            ObjectNode d = choice.putObject("delta");
            if (first) {
                d.put("role", "assistant");
            }
            if (finishReason == null || !delta.isEmpty()) {
                d.put("content", delta);
            }
        } else {
            choice.put("text", delta);
        }
        tokenIds(choice, ids, from, to);
        logprobs(choice, logprobs);
        choice.put("finish_reason", finishReason);
        return body;
    }

    /** The stream's usage chunk (stream_options.include_usage): no choices. */
    ObjectNode usageChunk(int promptTokens, int completionTokens) {
        ObjectNode body = envelope(chat ? "chat.completion.chunk" : "text_completion");
        body.putArray("choices");
        body.set("usage", usage(promptTokens, completionTokens));
        return body;
    }

    static ObjectNode error(ApiError e) {
        ObjectNode body = NODES.objectNode();
        body.putObject("error")
                .put("message", e.getMessage())
                .put("type", e.type())
                .put("param", e.param())
                .put("code", e.code());
        return body;
    }

    private ObjectNode envelope(String object) {
        return NODES.objectNode().put("id", id).put("object", object).put("created", created).put("model", model);
    }

    private static void logprobs(ObjectNode choice, ObjectNode logprobs) {
        if (logprobs == null) {
            choice.putNull("logprobs");
        } else {
            choice.set("logprobs", logprobs);
        }
    }

    private static void tokenIds(ObjectNode choice, int[] ids, int from, int to) {
        ArrayNode array = choice.putArray("token_ids");
        for (int i = from; i < to; i++) {
            array.add(ids[i]);
        }
    }

    private static ObjectNode usage(int promptTokens, int completionTokens) {
        return NODES.objectNode()
                .put("prompt_tokens", promptTokens)
                .put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
    }
}
