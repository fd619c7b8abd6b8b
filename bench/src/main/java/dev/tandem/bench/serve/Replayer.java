package dev.tandem.bench.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Open-loop replay: each planned request is sent at its scheduled time on its own virtual thread, however many
 * are still outstanding (with a concurrency cap, as vLLM's {@code --max-concurrency}: when a slot frees). Requests not finished {@code drainSeconds} after the last send are abandoned and
 * count as {@link RequestOutcome#ERROR_TIMEOUT}.
 */
public final class Replayer {
    private final StreamingClient client;
    private final double drainSeconds;
    private final java.util.concurrent.Semaphore inFlight; // null: no cap

    /** {@code maxConcurrency}: at most this many requests in flight, later ones sent when one ends; 0: no cap. */
    public Replayer(StreamingClient client, double drainSeconds, int maxConcurrency) {
        this.client = client;
        this.drainSeconds = drainSeconds;
        this.inFlight = maxConcurrency > 0 ? new java.util.concurrent.Semaphore(maxConcurrency) : null;
    }

    /** @return one outcome per planned request, in plan order */
    public List<RequestOutcome> replay(List<PlannedRequest> plan, ProgressBar progress) {
        AtomicInteger done = new AtomicInteger();
        AtomicInteger errors = new AtomicInteger();
        List<Future<RequestOutcome>> futures = new ArrayList<>(plan.size());
        long start = System.nanoTime();
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        try {
            for (PlannedRequest request : plan) {
                long due = start + (long) (request.sendAtSeconds() * 1e9);
                for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
                    LockSupport.parkNanos(Math.min(wait, 50_000_000L));
                    progress.update(futures.size(), plan.size(), done.get(), errors.get(), false);
                }
                futures.add(threads.submit(() -> {
                    if (inFlight != null) {
                        inFlight.acquire();
                    }
                    RequestOutcome outcome;
                    try {
                        outcome = client.send(request, start);
                    } finally {
                        if (inFlight != null) {
                            inFlight.release();
                        }
                    }
                    if (!outcome.ok()) {
                        errors.incrementAndGet();
                    }
                    done.incrementAndGet();
                    return outcome;
                }));
                progress.update(futures.size(), plan.size(), done.get(), errors.get(), false);
            }
            long deadline = System.nanoTime() + (long) (drainSeconds * 1e9);
            Runnable redraw = () -> progress.update(plan.size(), plan.size(), done.get(), errors.get(), false);
            List<RequestOutcome> outcomes = new ArrayList<>(plan.size());
            for (int i = 0; i < futures.size(); i++) {
                outcomes.add(await(futures.get(i), plan.get(i), deadline, start, redraw));
            }
            progress.update(plan.size(), plan.size(), plan.size(),
                    (int) outcomes.stream().filter(o -> !o.ok()).count(), true);
            progress.finish();
            return outcomes;
        } finally {
            threads.shutdownNow(); // interrupts requests abandoned at the deadline
            try {
                threads.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static RequestOutcome await(Future<RequestOutcome> future, PlannedRequest request, long deadline, long start,
                                        Runnable redraw) {
        while (true) {
            long left = deadline - System.nanoTime();
            try {
                return future.get(Math.max(0, Math.min(left, 250_000_000L)), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                if (left <= 0) {
                    future.cancel(true);
                    return RequestOutcome.failed(request, request.sendAtSeconds() * 1e3, 0, RequestOutcome.ERROR_TIMEOUT,
                            "unfinished at the deadline, " + (deadline - start) / 1e9 + " s after the replay started");
                }
                redraw.run();
            } catch (ExecutionException e) {
                return RequestOutcome.failed(request, request.sendAtSeconds() * 1e3, 0, RequestOutcome.ERROR_TRANSPORT,
                        String.valueOf(e.getCause()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for responses", e);
            }
        }
    }
}
