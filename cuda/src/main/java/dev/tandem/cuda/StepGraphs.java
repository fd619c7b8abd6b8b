package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaGraphs;

import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Decode steps replayed as CUDA graphs, one per step shape (the caller's key: batch size and
 * what it asks back). A step first runs with nothing enqueued ({@link StreamOps.Mode#CHECK}): that
 * fills the argument area with this step's token ids, positions, slots and block tables, and
 * traces every launch. When the trace equals that of the graph held for the key, the graph runs:
 * one upload of the argument area, then every kernel, with no launch gaps and no per-kernel
 * driver call. Otherwise the step is captured again; the held graph is updated in place when
 * only parameters changed (a longer block table, another split of the window), else
 * instantiated anew. Nothing here decides what a step computes: a graph is used only where it
 * enqueues exactly what the live step would.
 *
 * <p>A step that waits for the device or allocates runs live instead, as does a key whose trace
 * changed at each of its last {@link #MAX_CAPTURE_STREAK} steps, for the next {@link #COOL_DOWN}
 * of its steps: capturing costs more than it saves when nothing repeats.
 */
final class StepGraphs implements AutoCloseable {
    private static final int MAX_GRAPHS = 64;
    private static final int MAX_CAPTURE_STREAK = 4;
    private static final int COOL_DOWN = 64;

    private static final class Graph {
        MemorySegment exec;
        long[] trace;
        int captureStreak;
        int abortStreak;
        int liveSteps;       // > 0: run this many steps live
    }

    private final CudaBackend b;
    private final CudaGraphs api;
    private final StreamOps ops;
    private final Map<Integer, Graph> graphs = new LinkedHashMap<>(16, 0.75f, true);
    private long replays;
    private long captures;
    private long liveRuns;
    private long failedCaptures;    // the capture enqueued other work than the traced pass, or failed
    private String lastFailure = "";

    StepGraphs(CudaBackend backend, CudaGraphs api, StreamOps ops) {
        this.b = backend;
        this.api = api;
        this.ops = ops;
    }

    /** Runs {@code step}, which must not read anything back before its end, from a graph when one fits it. */
    void run(int key, Runnable step) {
        Graph g = graphs.get(key);
        if (g != null && g.liveSteps > 0) {
            g.liveSteps--;
            liveRuns++;
            step.run();                  // as any other step: the work before it may still be in flight
            return;
        }
        b.drain();                       // idle stream, empty argument area: this step's arguments start at 0
        if (!traceOnly(step)) {          // often a first step that still allocates: back off briefly
            g = placeholder(key, g);
            g.liveSteps = Math.min(COOL_DOWN, 1 << Math.min(g.abortStreak++, 6));
            runLive(step);
            return;
        }
        if (g != null && g.trace != null && ops.traceEquals(g.trace)) {
            g.captureStreak = 0;
            replays++;
        } else {
            Graph captured = capture(key, g, step);
            if (captured == null) {
                failedCaptures++;
                placeholder(key, g).liveSteps = COOL_DOWN;
                runLive(step);
                return;
            }
            g = captured;
        }
        g.abortStreak = 0;
        api.launch(g.exec, b.stream);
        b.finishDeferred();
    }

    private Graph placeholder(int key, Graph g) {
        if (g == null) {
            g = new Graph();
            graphs.put(key, g);
            evictBeyondLimit();
        }
        return g;
    }

    private boolean traceOnly(Runnable step) {
        ops.begin(StreamOps.Mode.CHECK);
        try {
            step.run();
            return true;
        } catch (StreamOps.NotGraphable e) {
            return false;
        } finally {
            ops.end();
        }
    }

    /** After a traced pass, which left the stream idle. */
    private void runLive(Runnable step) {
        b.resetStepState();
        liveRuns++;
        step.run();
    }

    /** The step captured into {@code old} (updated) or a new graph; null when the capture failed. */
    private Graph capture(int key, Graph old, Runnable step) {
        long[] checked = ops.traceCopy();
        long bytes = b.hostArgs.used();
        b.resetStepState();              // nothing was enqueued: only host state to undo
        api.beginCapture(b.stream);
        boolean same = false;
        MemorySegment graph;
        try {
            if (bytes > 0) {             // the whole argument area in one copy, before every kernel
                b.driver.copyToDevice(b.hostArgs.device(), b.hostArgs.host(), bytes, b.stream);
            }
            ops.begin(StreamOps.Mode.CAPTURE);
            step.run();
            same = ops.traceEquals(checked) && b.hostArgs.used() == bytes;
            if (!same) {
                lastFailure = "the capture enqueued other work than the traced pass";
            }
        } catch (RuntimeException e) {   // a live run repeats a real failure
            same = false;
            lastFailure = String.valueOf(e);
        } finally {
            ops.end();
            graph = api.endCapture(b.stream);
        }
        if (!same || graph.equals(MemorySegment.NULL)) {
            if (!graph.equals(MemorySegment.NULL)) {
                api.destroyGraph(graph);
            }
            return null;
        }
        try {
            captures++;
            if (old != null && old.exec != null && api.update(old.exec, graph)) {
                old.trace = checked;
                if (++old.captureStreak >= MAX_CAPTURE_STREAK) {
                    old.captureStreak = 0;
                    old.liveSteps = COOL_DOWN;
                }
                return old;
            }
            Graph g = old != null ? old : new Graph();
            if (g.exec != null) {
                api.destroyExec(g.exec);
            }
            g.exec = api.instantiate(graph);
            g.trace = checked;
            graphs.put(key, g);
            evictBeyondLimit();
            return g;
        } finally {
            api.destroyGraph(graph);
        }
    }

    private void evictBeyondLimit() {
        Iterator<Graph> it = graphs.values().iterator();
        while (graphs.size() > MAX_GRAPHS && it.hasNext()) {
            destroy(it.next());
            it.remove();
        }
    }

    private void destroy(Graph g) {
        if (g.exec != null) {
            api.destroyExec(g.exec);
            g.exec = null;
        }
    }

    /** Replays, captures (new or updated) and steps run live, since start-up. */
    String stats() {
        return replays + " replays, " + captures + " captures, " + liveRuns + " live, " + failedCaptures
                + " failed captures" + (failedCaptures > 0 ? " (last: " + lastFailure + ")" : "") + ", " + graphs.size()
                + " graphs";
    }

    long replays() {
        return replays;
    }

    long captures() {
        return captures;
    }

    @Override
    public void close() {
        for (Graph g : graphs.values()) {
            destroy(g);
        }
        graphs.clear();
    }
}
