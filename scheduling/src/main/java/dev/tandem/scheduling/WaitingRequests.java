package dev.tandem.scheduling;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.BiConsumer;
import java.util.function.ToIntFunction;

/**
 * The requests waiting for a machine, in arrival order, and the scheduler's admission: past
 * {@code maxQueued} waiting, a new one is turned away (a 429), and waiting ones go out in arrival
 * order for as long as {@link SplitwisePolicy} finds room for the one at the head. The live
 * scheduler and the simulator both decide through this. No I/O, no clock; the caller serialises calls.
 *
 * @param <T> the caller's request
 */
public final class WaitingRequests<T> {
    private final Deque<T> waiting = new ArrayDeque<>();
    private final int maxQueued;

    public WaitingRequests(int maxQueued) {
        this.maxQueued = maxQueued;
    }

    /** Queues {@code request} at the back: false (and nothing queued) when {@code maxQueued} already wait. */
    public boolean offer(T request) {
        if (waiting.size() >= maxQueued) {
            return false;
        }
        waiting.add(request);
        return true;
    }

    /** Queues a request ahead of the waiting ones (one retried after its machine was lost), past any limit. */
    public void addFirst(T request) {
        waiting.addFirst(request);
    }

    /**
     * Routes the waiting requests, head first, while the policy finds room for the head; each routed
     * one leaves the queue and goes to {@code onRouted} with its route (its resources taken).
     *
     * @param promptTokens the request's prompt tokens
     * @param totalTokens  the KV positions it books: prompt and the most tokens it may generate
     * @return how many were routed
     */
    public int routeWaiting(SplitwisePolicy policy, ToIntFunction<T> promptTokens, ToIntFunction<T> totalTokens,
                            BiConsumer<T, Route> onRouted) {
        int routed = 0;
        while (!waiting.isEmpty()) {
            T head = waiting.peek();
            Route route = policy.route(promptTokens.applyAsInt(head), totalTokens.applyAsInt(head));
            if (route == null) {
                break;
            }
            waiting.poll();
            routed++;
            onRouted.accept(head, route);
        }
        return routed;
    }

    public boolean remove(T request) {
        return waiting.remove(request);
    }

    /** The head, removed; null when none waits. */
    public T poll() {
        return waiting.poll();
    }

    public int size() {
        return waiting.size();
    }

    public boolean isEmpty() {
        return waiting.isEmpty();
    }
}
