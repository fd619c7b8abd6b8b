package dev.tandem.core.compute.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A dedicated pool for kernels, so that they never compete with Netty or Aeron threads on the
 * common pool. {@link #run} hands out task indices to the workers and the calling thread, and
 * returns when all are done. Nothing is allocated per call: tasks are reusable objects.
 * Workers spin briefly between calls (kernels come in bursts of one per layer), then park.
 */
public final class KernelPool implements AutoCloseable {
    /** One unit of a kernel; {@code worker} in {@code [0, threads)} indexes per-thread scratch. */
    @FunctionalInterface
    public interface Task {
        void run(int index, int worker);
    }

    private static final int SPINS_BEFORE_PARK = 20_000;

    private final Thread[] workers;
    private final AtomicInteger nextIndex = new AtomicInteger();
    private final AtomicInteger busyWorkers = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    private Task task;
    private int taskCount;
    private volatile Throwable failure;

    public KernelPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            int worker = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("tandem-kernel-" + worker).start(() -> workLoop(worker));
        }
    }

    public int threads() {
        return workers.length + 1;
    }

    /** Runs {@code task} for every index in {@code [0, count)}; one caller at a time. */
    public synchronized void run(int count, Task task) {
        if (closed) {
            throw new IllegalStateException("kernel pool is closed"); // its workers are gone: waiting would spin forever
        }
        if (count <= 0) {
            return;
        }
        if (count == 1 || workers.length == 0) {
            for (int i = 0; i < count; i++) {
                task.run(i, 0);
            }
            return;
        }
        this.task = task;
        this.taskCount = count;
        nextIndex.set(0);
        busyWorkers.set(workers.length);
        generation++; // publishes task and taskCount
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        Throwable callerFailure = null;
        try {
            drain(0);
        } catch (Throwable e) {
            callerFailure = e; // the workers may still be in this call's tasks: wait for them before returning
        }
        while (busyWorkers.get() != 0) {
            Thread.onSpinWait();
        }
        this.task = null;
        Throwable t = callerFailure != null ? callerFailure : failure;
        failure = null;
        if (t != null) {
            throw new IllegalStateException("kernel task failed", t);
        }
    }

    private void drain(int worker) {
        Task t = task;
        int n = taskCount;
        for (int i = nextIndex.getAndIncrement(); i < n; i = nextIndex.getAndIncrement()) {
            t.run(i, worker);
        }
    }

    private void workLoop(int worker) {
        long seen = 0;
        while (!closed) {
            long g = generation;
            if (g == seen) {
                for (int spin = 0; spin < SPINS_BEFORE_PARK && generation == seen && !closed; spin++) {
                    Thread.onSpinWait();
                }
                if (generation == seen) {
                    LockSupport.parkNanos(1_000_000);
                }
                continue;
            }
            seen = g;
            try {
                drain(worker);
            } catch (Throwable e) {
                failure = e;
            } finally {
                busyWorkers.decrementAndGet();
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
