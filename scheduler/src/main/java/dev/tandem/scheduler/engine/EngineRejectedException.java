package dev.tandem.scheduler.engine;

import dev.tandem.core.TandemException;

/**
 * A request the engine cannot take now, with the HTTP status that says why: 429 when the queues
 * are full (retry after {@code retryAfterSeconds}), 503 when no machine can serve.
 */
public final class EngineRejectedException extends TandemException {
    private final int status;
    private final int retryAfterSeconds;

    public EngineRejectedException(int status, int retryAfterSeconds, String message) {
        super(message);
        this.status = status;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public int status() {
        return status;
    }

    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
