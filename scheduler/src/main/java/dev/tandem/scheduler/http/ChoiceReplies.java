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
 * choice has ended. The first error answers for all. With more candidates a prompt than choices
 * ({@code best_of > n}, whole answers only) the n of each prompt's candidates with the highest
 * cumulative log-probability answer, in that order, as vLLM ranks them (ties to the earlier).
 */
final class ChoiceReplies {
    private final HttpExchange exchange;
    private final ObjectNode[] bodies;
    private final int perPrompt;     // candidates of one prompt: candidate i is prompt i / perPrompt's
    private final int returned;      // choices answered a prompt: perPrompt, or n of best_of
    private final boolean stripLogprobs; // ranked by logprobs the request did not ask to see
    private int pending;
    private int completionTokens;    // streamed: summed from the choices' usage chunks
    private int promptTokens;
    private JsonNode usageChunk;     // the last choice's, to send summed
    private boolean started;
    private boolean answered;

    /**
     * {@code choices} candidates in all, {@code perPrompt} of them for each prompt (usage counts a
     * prompt once), of which the best {@code returned} a prompt answer; {@code stripLogprobs}: their
     * logprobs only ranked them.
     */
    ChoiceReplies(HttpExchange exchange, int choices, int perPrompt, int returned, boolean stripLogprobs) {
        this.exchange = exchange;
        this.bodies = new ObjectNode[choices];
        this.pending = choices;
        this.perPrompt = perPrompt;
        this.returned = returned;
        this.stripLogprobs = stripLogprobs;
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
        for (int first = 0; first < bodies.length; first += perPrompt) {
            prompt += bodies[first].get("usage").get("prompt_tokens").asInt();
            Integer[] order = new Integer[perPrompt];
            for (int i = 0; i < perPrompt; i++) {
                order[i] = first + i;
            }
            if (returned < perPrompt) { // stable: ties keep the earlier candidate
                double[] score = new double[bodies.length];
                for (int i = first; i < first + perPrompt; i++) {
                    score[i] = cumulativeLogprob(bodies[i]);
                }
                java.util.Arrays.sort(order, (a, b) -> Double.compare(score[b], score[a]));
            }
            for (int j = 0; j < returned; j++) {
                ObjectNode choice = (ObjectNode) bodies[order[j]].get("choices").get(0);
                choice.put("index", choices.size());
                if (stripLogprobs) {
                    choice.putNull("logprobs");
                }
                choices.add(choice);
                tokens += bodies[order[j]].get("usage").get("completion_tokens").asInt(); // as vLLM: the answered
            }
        }
        return withUsage(body, prompt, tokens);
    }

    /** A whole completion choice's Σ of its tokens' log-probabilities. */
    private static double cumulativeLogprob(ObjectNode body) {
        double sum = 0;
        for (JsonNode logprob : body.get("choices").get(0).path("logprobs").path("token_logprobs")) {
            sum += logprob.asDouble();
        }
        return sum;
    }

    private static ObjectNode withUsage(ObjectNode body, int promptTokens, int completionTokens) {
        ((ObjectNode) body.get("usage")).put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                .put("total_tokens", promptTokens + completionTokens);
        return body;
    }
}
