package dev.tandem.scheduler.http;

import io.netty.handler.codec.http.FullHttpRequest;

/** One route's work: answers through the exchange, now or later; an {@link ApiError} thrown becomes the answer. */
@FunctionalInterface
interface Endpoint {
    void handle(HttpExchange exchange, FullHttpRequest request);
}
