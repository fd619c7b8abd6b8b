package dev.tandem.scheduler.cluster;

import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.scheduler.policy.Route;

import java.util.ArrayList;
import java.util.List;

/**
 * One request in a cluster, from admission to its end. A split request's first token comes from
 * its prompt machine and the rest from its token machine, over two links that race: tokens the
 * token machine sends before the first token arrives wait here, so the listener hears them in order.
 */
final class Flight {
    final String id;
    final Request request;
    final GenerationListener listener;
    final long submittedNanos = System.nanoTime();
    Route route;
    boolean prefillDone;
    int firstToken = -1;
    final List<Integer> early = new ArrayList<>();
    int[] earlyOutput;        // the token machine's output ids, if it finished before the first token came
    String earlyFinish;
    boolean ended;
    int generated;

    Flight(String id, Request request, GenerationListener listener) {
        this.id = id;
        this.request = request;
        this.listener = listener;
    }

    int totalTokens(int contextLength) {
        return Math.min(contextLength, request.prompt().length + request.maxTokens());
    }
}
