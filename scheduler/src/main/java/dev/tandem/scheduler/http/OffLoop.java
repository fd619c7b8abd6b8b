package dev.tandem.scheduler.http;

import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

/**
 * Work that takes time in proportion to a request's text (tokenizing, rendering a chat
 * template), run off the event loop that serves every other connection of its thread. The
 * threads are shared by every server of this JVM, and are daemons, so they never hold it up.
 */
final class OffLoop {
    private static final Executor TOKENIZERS = Executors.newFixedThreadPool(
            Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())), r -> {
                Thread t = new Thread(r, "tandem-tokenize");
                t.setDaemon(true);
                return t;
            });

    private OffLoop() {
    }

    /**
     * Runs {@code work} here, then {@code then} with its result back on the exchange's event loop
     * (where the response and the engine's later events are written, in order); what either
     * throws is answered on {@code exchange} as the handler would.
     */
    static <T> void run(HttpExchange exchange, java.util.function.Supplier<T> work,
                        java.util.function.Consumer<T> then) {
        TOKENIZERS.execute(() -> answering(exchange, () -> {
            T result = work.get();
            exchange.channel().eventLoop().execute(() -> answering(exchange, () -> then.accept(result)));
        }));
    }

    private static void answering(HttpExchange exchange, Runnable step) {
        try {
            step.run();
        } catch (ApiError e) {
            exchange.sendError(e);
        } catch (RuntimeException e) {
            exchange.sendError(ApiError.internal(e.toString()));
        }
    }
}
