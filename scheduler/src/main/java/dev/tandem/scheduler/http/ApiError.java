package dev.tandem.scheduler.http;

/**
 * A request the API refuses, as OpenAI reports it: the HTTP status and the body
 * {@code {"error":{"message","type","param","code"}}}. Thrown anywhere below the handler and
 * turned into the response there (or into an SSE error event once a stream has begun).
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final int retryAfterSeconds;
    private final String allow;

    private ApiError(int status, String type, String message, String param, String code, int retryAfterSeconds) {
        this(status, type, message, param, code, retryAfterSeconds, null);
    }

    private ApiError(int status, String type, String message, String param, String code, int retryAfterSeconds,
                     String allow) {
        super(message, null, false, false);
        this.allow = allow;
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: the request is wrong; {@code param} names the field at fault, or null. */
    public static ApiError badRequest(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, null, 0);
    }

    /** 431: the request's headers exceed the decoder's limit; the connection is closed after it. */
    public static ApiError headersTooLarge(String detail) {
        return new ApiError(431, "invalid_request_error", "Request header fields too large: " + detail, null,
                "request_header_fields_too_large", 0);
    }

    /** 414: the request line exceeds the decoder's limit; the connection is closed after it. */
    public static ApiError uriTooLong(String detail) {
        return new ApiError(414, "invalid_request_error", "Request line too long: " + detail, null, "uri_too_long", 0);
    }

    public static ApiError modelNotFound(String model, String served) {
        return new ApiError(404, "invalid_request_error", "The model `" + model + "` does not exist; this server serves `"
                + served + "`", "model", "model_not_found", 0);
    }

    public static ApiError pathNotFound(String path) {
        return new ApiError(404, "invalid_request_error", "No such endpoint: " + path, null, "not_found", 0);
    }

    public static ApiError methodNotAllowed(String method, String path, String allowed) {
        return new ApiError(405, "invalid_request_error", "Method " + method + " is not allowed on " + path
                + "; use " + allowed, null, "method_not_allowed", 0, allowed);
    }

    /** 400, as vLLM answers a prompt or a completion that does not fit the context. */
    public static ApiError contextLengthExceeded(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, "context_length_exceeded", 0);
    }

    /** 401: a /v1 route without the server's API key, as OpenAI answers a bad key. */
    public static ApiError unauthorized() {
        return new ApiError(401, "invalid_request_error", "Incorrect or missing API key: send 'Authorization: Bearer KEY'",
                null, "invalid_api_key", 0);
    }

    /** 403: a browser's request from an origin not in --allowed-origins. */
    public static ApiError originNotAllowed(String origin) {
        return new ApiError(403, "invalid_request_error", "Cross-origin requests from " + origin
                + " are not allowed (--allowed-origins)", null, "origin_not_allowed", 0);
    }

    /** 415: a JSON route's body sent as something else. */
    public static ApiError unsupportedMediaType(String given) {
        return new ApiError(415, "invalid_request_error", "The body must be sent as Content-Type: application/json, got "
                + (given == null ? "none" : "'" + given + "'"), null, "unsupported_media_type", 0);
    }

    public static ApiError bodyTooLarge(int maxBytes) {
        return new ApiError(413, "invalid_request_error", "The request body is larger than " + maxBytes + " bytes",
                null, "request_too_large", 0);
    }

    public static ApiError rateLimited(String message, int retryAfterSeconds) {
        return new ApiError(429, "rate_limit_error", message, null, "rate_limit_exceeded", retryAfterSeconds);
    }

    public static ApiError unavailable(String message) {
        return new ApiError(503, "service_unavailable", message, null, null, 0);
    }

    public static ApiError internal(String message) {
        return new ApiError(500, "server_error", message, null, null, 0);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** The Allow header of a 405, else null. */
    public String allow() {
        return allow;
    }

    /** Seconds for the Retry-After header; 0 when there is none. */
    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
