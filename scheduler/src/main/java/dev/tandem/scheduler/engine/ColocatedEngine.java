package dev.tandem.scheduler.engine;

import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The whole model in this process (attention and experts, in-process dispatch), stepped by one
 * engine thread with continuous batching: requests join the running batch at step boundaries.
 * {@code tandem serve}'s engine, and a Splitwise prompt machine's.
 */
public final class ColocatedEngine implements CompletionEngine {
    private static final long IDLE_PARK_NS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final int DEFAULT_KV_TOKENS = 16384;

    private final ServedModel served;
    private final CausalLm model;
    private final Generator generator;
    private final int maxQueued;
    private final Thread stepper;
    private volatile boolean closed;
    private volatile Throwable failure;

    /**
     * @param maxBatchTokens the step's token budget (prefill chunks are bounded by it)
     * @param kvTokens       KV cache positions, over all requests
     * @param maxQueued      requests waiting for admission before new ones get 429
     */
    public ColocatedEngine(Path checkpoint, String name, int threads, int maxBatchTokens, int kvTokens,
                           int maxQueued) {
        this(checkpoint, name, BackendSpec.cpu(threads), maxBatchTokens, kvTokens, 1.0, maxQueued, line -> { }, 0);
    }

    /**
     * @param backend             where the model computes
     * @param kvTokens            KV cache positions; null: what {@code memoryUtilization} of the
     *                            device leaves after the weights (the CPU: 16384)
     * @param memoryUtilization   the share of device memory this engine may fill (vLLM's
     *                            {@code --gpu-memory-utilization})
     * @param log                 start-up lines: the device, the weights, the KV plan
     * @param maxModelLen         the context served (vLLM's --max-model-len); 0: the model's
     */
    public ColocatedEngine(Path checkpoint, String name, BackendSpec backend, int maxBatchTokens, Integer kvTokens,
                           double memoryUtilization, int maxQueued, java.util.function.Consumer<String> log,
                           int maxModelLen) {
        CausalLm lm = Models.load(checkpoint, backend.open(log), maxBatchTokens);
        ModelConfig config = lm.config();
        this.model = lm;
        if (maxModelLen < 0 || maxModelLen > config.maxPositions()) {
            lm.close();
            throw new dev.tandem.core.TandemException("--max-model-len " + maxModelLen + " is not in [1, "
                    + config.maxPositions() + "], this model's context");
        }
        int context = maxModelLen == 0 ? config.maxPositions() : maxModelLen;
        this.served = new ServedModel(name, context, config.vocabSize(), config.eosTokenIds());
        int tokens;
        try {
            tokens = lm.plannedKvTokens(memoryUtilization, kvTokens, DEFAULT_KV_TOKENS, log);
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        this.generator = new Generator(lm, lm.newKvCache(tokens, CausalLm.SERVING_BLOCK_SIZE));
        this.maxQueued = maxQueued;
        this.stepper = Thread.ofPlatform().name("engine-" + name).start(this::run);
    }

    @Override
    public ServedModel model() {
        return served;
    }

    public Generator generator() {
        return generator;
    }

    @Override
    public RequestHandle submit(Request request, GenerationListener listener) {
        if (closed || failure != null) {
            throw new EngineRejectedException(503, 0, failure == null ? "the engine is shutting down"
                    : "the engine failed: " + failure.getMessage());
        }
        int waiting = generator.requestsWaitingForKv();
        if (waiting >= maxQueued) {
            throw new EngineRejectedException(429, 1, waiting + " requests are already waiting for KV memory; retry later");
        }
        RequestHandle handle = generator.submit(request, listener);
        LockSupport.unpark(stepper);
        return handle;
    }

    @Override
    public boolean healthy() {
        return !closed && failure == null;
    }

    @Override
    public boolean supportsLogprobs() {
        return true;
    }

    @Override
    public long preemptions() {
        return generator.stats().preemptions();
    }

    @Override
    public double kvCacheUsage() {
        int total = generator.totalKvBlocks();
        return total == 0 ? 0 : 1.0 - (double) generator.freeKvBlocks() / total;
    }

    @Override
    public Map<String, Integer> queueDepths() {
        return Map.of("colocated", generator.queuedRequests());
    }

    private void run() {
        try {
            while (!closed) {
                if (generator.hasWork()) {
                    generator.step();
                } else {
                    LockSupport.parkNanos(IDLE_PARK_NS);
                }
            }
        } catch (Throwable t) {
            failure = t;
            System.err.println("engine " + served.name() + " failed: " + t);
            generator.abortAll("the engine failed: " + t.getMessage());
        }
    }

    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(stepper);
        try {
            stepper.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!stepper.isAlive()) {
            generator.abortAll("the server is shutting down");
        }
        model.close();
    }
}
