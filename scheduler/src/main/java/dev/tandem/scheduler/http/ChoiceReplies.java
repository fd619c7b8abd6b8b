package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * The choices of one request ({@code n > 1}, or several prompts) answering through one exchange. Whole: each
 * choice's body is held until all are in, then one body goes out with every choice (in index order)
 * and the completion tokens of all. Streamed: one event stream; each choice's chunks go out as they
 * come with its index; their usage chunks are summed into one, sent with {@code [DONE]} once every
 * choice has ended. The first error answers for all.
 */
final class ChoiceReplies {
    private final HttpExchange exchange;
    private final ObjectNode[] bodies;
    private final int perPrompt;     // choices of one prompt: choice i is prompt i / perPrompt's
    private int pending;
    private int completionTokens;    // streamed: summed from the choices' usage chunks
    private int promptTokens;
    private JsonNode usageChunk;     // the last choice's, to send summed
    private boolean started;
    private boolean answered;

    /** {@code choices} in all, {@code perPrompt} of them for each prompt (usage counts a prompt once). */
    ChoiceReplies(HttpExchange exchange, int choices, int perPrompt) {
        this.exchange = exchange;
        this.bodies = new ObjectNode[choices];
        this.pending = choices;
        this.perPrompt = perPrompt;
    }

    Reply choice(int index) {
        return new Reply() {
            @Override
            public Channel channel() {
                return exchange.channel();
            }

            @Override
            public void sendJson(HttpResponseStatus status, JsonNode body) {
                if (answered) {
                    return;
                }
                ObjectNode whole = (ObjectNode) body;
                ((ObjectNode) whole.get("choices").get(0)).put("index", index);
                bodies[index] = whole;
                if (--pending == 0) {
                    answered = true;
                    exchange.sendJson(status, merged());
                }
            }

            @Override
            public void sendError(ApiError error) {
                if (!answered) {
                    answered = true;
                    exchange.sendError(error);
                }
            }

            @Override
            public void startEvents() {
                if (!started) {
                    started = true;
                    exchange.startEvents();
                }
            }

            @Override
            public void event(JsonNode body) {
                if (answered) {
                    return;
                }
                JsonNode choices = body.path("choices");
                if (body.has("usage") && choices.isEmpty()) {   // the choice's usage chunk: summed at the end
                    completionTokens += body.get("usage").get("completion_tokens").asInt();
                    promptTokens += index % perPrompt == 0 ? body.get("usage").get("prompt_tokens").asInt() : 0;
                    usageChunk = body;
                    return;
                }
                if (choices.isArray() && !choices.isEmpty()) {
                    ((ObjectNode) choices.get(0)).put("index", index);
                }
                exchange.event(body);
            }

            @Override
            public void endEvents(boolean done, boolean close) {
                if (answered) {
                    return;
                }
                if (close || --pending == 0) {
                    answered = true;
                    if (!close && usageChunk != null) {
                        exchange.event(withUsage((ObjectNode) usageChunk.deepCopy(), promptTokens, completionTokens));
                    }
                    exchange.endEvents(done, close);
                }
            }

            @Override
            public void abandoned() {
                if (!answered) {
                    answered = true;
                    exchange.abandoned();
                }
            }
        };
    }

    private ObjectNode merged() {
        ObjectNode body = bodies[0].deepCopy();
        ArrayNode choices = body.putArray("choices");
        int tokens = 0;
        int prompt = 0;
        for (int i = 0; i < bodies.length; i++) {
            choices.add(bodies[i].get("choices").get(0));
            tokens += bodies[i].get("usage").get("completion_tokens").asInt();
            prompt += i % perPrompt == 0 ? bodies[i].get("usage").get("prompt_tokens").asInt() : 0;
        }
        return withUsage(body, prompt, tokens);
    }

    private static ObjectNode withUsage(ObjectNode body, int promptTokens, int completionTokens) {
        ((ObjectNode) body.get("usage")).put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
        return body;
    }
}
