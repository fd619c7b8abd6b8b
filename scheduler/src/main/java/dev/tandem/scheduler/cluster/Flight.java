package dev.tandem.scheduler.cluster;

import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.scheduling.Route;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One request in a cluster, from admission to its end. A split request's first token comes from
 * its prompt machine and the rest from its token machine, over two links that race: tokens the
 * token machine sends before the first token arrives wait here, so the listener hears them in order.
 *
 * <p>A request whose machine is lost runs again elsewhere under a new id. The tokens it already
 * delivered are generated again (the same model, prompt and seed give the same tokens) and are
 * checked against what the listener heard instead of being delivered twice.
 */
final class Flight {
    String id;
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
    int retries;
    private int[] delivered = new int[16]; // tokens the listener heard, over every attempt
    private int deliveredCount;
    private int replayed;                  // tokens of this attempt matched against them

    Flight(String id, Request request, GenerationListener listener) {
        this.id = id;
        this.request = request;
        this.listener = listener;
    }

    /**
     * Takes this attempt's next token: true if the listener should hear it, false if it repeats
     * one heard before a retry.
     *
     * @throws IllegalStateException if the retry produced another token than the one heard
     */
    boolean accept(int token) {
        if (replayed < deliveredCount) {
            if (delivered[replayed] != token) {
                throw new IllegalStateException("its retry on another machine generated token " + token
                        + " where token " + replayed + " was " + delivered[replayed]);
            }
            replayed++;
            return false;
        }
        if (deliveredCount == delivered.length) {
            delivered = Arrays.copyOf(delivered, 2 * deliveredCount);
        }
        delivered[deliveredCount++] = token;
        replayed++;
        return true;
    }

    /** Back to waiting for a machine, as attempt {@code retries + 1} under {@code newId}. */
    void retryAs(String newId) {
        id = newId;
        retries++;
        route = null;
        prefillDone = false;
        firstToken = -1;
        early.clear();
        earlyOutput = null;
        earlyFinish = null;
        replayed = 0;
    }
}
