package dev.tandem.core.engine;

/** A submitted request, for cancelling it; any thread may cancel. */
@FunctionalInterface
public interface RequestHandle {
    /**
     * Stops the request at the next step boundary and frees its KV blocks; its listener hears
     * {@code onDone} with finish reason "cancelled" unless it had already finished.
     */
    void cancel();
}
