package dev.tandem.cuda.bind;

/** What a downcall wrapper does with what {@code invokeExact} throws: unchecked passes, the rest is wrapped. */
final class Calls {
    private Calls() {
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
