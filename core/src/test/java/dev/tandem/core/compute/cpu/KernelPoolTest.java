package dev.tandem.core.compute.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelPoolTest {
    private static final int[] COUNTS = {0, 1, 2, 3, 7, 64, 1000};
    private static final int RUNS_PER_COUNT = 40;
    private static final Duration BOUNDED_WAIT = Duration.ofSeconds(10);

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 2, 3, 4})
    void shouldRunEveryIndexExactlyOnceOnEveryCall(int threads) {
        try (KernelPool pool = new KernelPool(threads)) {
            assertEquals(threads, pool.threads());
            for (int count : COUNTS) {
                for (int run = 0; run < RUNS_PER_COUNT; run++) {
                    assertEachIndexOnce(pool, count, "count " + count + ", run " + run);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 2, 3, 4})
    void shouldSurfaceATaskFailureAndKeepWorking(int threads) {
        RuntimeException boom = new RuntimeException("boom");
        try (KernelPool pool = new KernelPool(threads)) {
            for (int round = 0; round < 5; round++) {
                int failing = round * 7;
                RuntimeException thrown = assertThrows(RuntimeException.class, () -> pool.run(50, (index, worker) -> {
                    if (index == failing) {
                        throw boom;
                    }
                }));
                assertSame(boom, thrown == boom ? thrown : thrown.getCause(), "the task's exception, or its cause");
                assertEachIndexOnce(pool, 50, "after failure " + round);
            }
        }
    }

    /**
     * The calling thread fails at once while the workers are still inside slow tasks: run() must
     * not return (nor a new run() start) until they are done, or they would take the next call's
     * indices for the old task.
     */
    @Test
    void shouldNotReturnFromAFailedRunWhileWorkersAreStillInIt() {
        RuntimeException boom = new RuntimeException("caller failed");
        AtomicBoolean returned = new AtomicBoolean();
        AtomicInteger lateCalls = new AtomicInteger();
        try (KernelPool pool = new KernelPool(3)) {
            assertTimeoutPreemptively(BOUNDED_WAIT, () -> { // a pool that loses count of its workers spins forever
                assertThrows(RuntimeException.class, () -> pool.run(12, (index, worker) -> {
                    if (returned.get()) {
                        lateCalls.incrementAndGet();
                    }
                    if (worker == 0) {
                        throw boom;
                    }
                    sleep(20);
                }));
                returned.set(true);
                assertEachIndexOnce(pool, 200, "the call after the failed one");
            });
            assertEquals(0, lateCalls.get(), "tasks of the failed call ran after it returned");
        }
    }

    @Test
    void shouldStopItsThreadsOnClose() {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        KernelPool pool = new KernelPool(4);
        assertEachIndexOnce(pool, 100, "before close");
        Set<Thread> mine = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("tandem-kernel-") && !before.contains(t))
                .collect(Collectors.toSet());
        assertEquals(3, mine.size(), "three workers besides the calling thread");

        pool.close();

        assertTimeoutPreemptively(BOUNDED_WAIT, () -> {
            for (Thread t : mine) {
                t.join();
            }
        });
        assertTrue(mine.stream().noneMatch(Thread::isAlive));
    }

    @Test
    void shouldRefuseToRunAfterClose() {
        KernelPool pool = new KernelPool(2);
        pool.close();
        assertTimeoutPreemptively(BOUNDED_WAIT,
                () -> assertThrows(IllegalStateException.class, () -> pool.run(10, (index, worker) -> { })));
    }

    @Test
    void shouldRejectFewerThanOneThread() {
        assertThrows(IllegalArgumentException.class, () -> new KernelPool(0));
    }

    private static void assertEachIndexOnce(KernelPool pool, int count, String where) {
        AtomicIntegerArray calls = new AtomicIntegerArray(Math.max(count, 1));
        AtomicBoolean badWorker = new AtomicBoolean();
        pool.run(count, (index, worker) -> {
            calls.incrementAndGet(index);
            if (worker < 0 || worker >= pool.threads()) {
                badWorker.set(true);
            }
        });
        for (int i = 0; i < count; i++) {
            assertEquals(1, calls.get(i), where + ": index " + i);
        }
        assertFalse(badWorker.get(), where + ": worker index out of range");
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
