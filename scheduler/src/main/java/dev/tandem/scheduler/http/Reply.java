package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * Where one completion choice writes its answer: the request's {@link HttpExchange} itself, or,
 * with {@code n > 1}, its share of one ({@link ChoiceReplies}). Call on the channel's event loop.
 */
interface Reply {
    Channel channel();

    void sendJson(HttpResponseStatus status, JsonNode body);

    void sendError(ApiError error);

    void startEvents();

    void event(JsonNode body);

    void endEvents(boolean done, boolean close);

    void abandoned();
}
