package dev.tandem.scheduler.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.scheduler.metrics.ApiMetrics;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;

import java.nio.charset.StandardCharsets;

/**
 * One request's reply on its channel: a whole response, or a server-sent event stream. Counts
 * the status in the metrics once. Call on the channel's event loop.
 */
final class HttpExchange implements Reply {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    private final Channel channel;
    private final boolean keepAlive;
    private final String endpoint;
    private final ApiMetrics metrics;
    private boolean answered;

    private String origin; // an allowed CORS origin to name on the response, or null

    HttpExchange(Channel channel, boolean keepAlive, String endpoint, ApiMetrics metrics) {
        this.channel = channel;
        this.keepAlive = keepAlive;
        this.endpoint = endpoint;
        this.metrics = metrics;
    }

    @Override
    public Channel channel() {
        return channel;
    }

    @Override
    public void sendJson(HttpResponseStatus status, JsonNode body) {
        send(status, "application/json", bytes(body));
    }

    void sendText(HttpResponseStatus status, String contentType, String body) {
        send(status, contentType, body.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void sendError(ApiError error) {
        FullHttpResponse response = response(HttpResponseStatus.valueOf(error.status()), "application/json",
                bytes(CompletionJson.error(error)));
        if (error.retryAfterSeconds() > 0) {
            response.headers().set(HttpHeaderNames.RETRY_AFTER, error.retryAfterSeconds());
        }
        if (error.allow() != null) {
            response.headers().set(HttpHeaderNames.ALLOW, error.allow());
        }
        finish(error.status(), response);
    }

    /** Starts a 200 text/event-stream with chunked transfer encoding. */
    @Override
    public void startEvents() {
        HttpResponse response = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_CACHE)
                .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        connectionHeaders(response);
        count(200);
        channel.writeAndFlush(response);
    }

    /** One {@code data: <json>} event. */
    @Override
    public void event(JsonNode body) {
        byte[] json = bytes(body);
        byte[] event = new byte[DATA.length + json.length + 2];
        System.arraycopy(DATA, 0, event, 0, DATA.length);
        System.arraycopy(json, 0, event, DATA.length, json.length);
        event[event.length - 2] = '\n';
        event[event.length - 1] = '\n';
        channel.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(event)));
    }

    /** {@code data: [DONE]} and the end of the stream; {@code close} also ends the connection. */
    @Override
    public void endEvents(boolean done, boolean close) {
        if (done) {
            channel.write(new DefaultHttpContent(Unpooled.wrappedBuffer(DONE)));
        }
        var written = channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        if (close || !keepAlive) {
            written.addListener(ChannelFutureListener.CLOSE);
        } else {
            InOrderResponses.responseDone(channel);
        }
    }

    /** The client left before an answer: counted as nginx's 499 unless a status went out already. */
    @Override
    public void abandoned() {
        if (!answered) {
            count(499);
        }
    }

    private void send(HttpResponseStatus status, String contentType, byte[] body) {
        finish(status.code(), response(status, contentType, body));
    }

    private FullHttpResponse response(HttpResponseStatus status, String contentType, byte[] body) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.wrappedBuffer(body));
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, contentType)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        connectionHeaders(response);
        return response;
    }

    /** The allowed browser origin this request came from (CORS), named on its response. */
    void allowOrigin(String origin) {
        this.origin = origin;
    }

    /** What every response carries: the allowed CORS origin, and {@code Connection: close} unless kept alive. */
    private void connectionHeaders(HttpResponse response) {
        if (origin != null) {
            response.headers().set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin).set(HttpHeaderNames.VARY,
                    HttpHeaderNames.ORIGIN);
        }
        if (!keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
    }

    /** 204 to a CORS preflight from an allowed origin: the methods and headers the API takes. */
    void sendPreflight() {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
        response.headers()
                .set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS")
                .set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type")
                .setInt(HttpHeaderNames.ACCESS_CONTROL_MAX_AGE, 600)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        connectionHeaders(response);
        finish(204, response);
    }

    private void finish(int status, FullHttpResponse response) {
        count(status);
        var written = channel.writeAndFlush(response);
        if (!keepAlive) {
            written.addListener(ChannelFutureListener.CLOSE);
        } else {
            InOrderResponses.responseDone(channel);
        }
    }

    private void count(int status) {
        if (!answered) {
            answered = true;
            metrics.request(endpoint, status);
        }
    }

    static byte[] bytes(JsonNode body) {
        try {
            return JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree always serializes", e);
        }
    }

    static ObjectMapper json() {
        return JSON;
    }
}
