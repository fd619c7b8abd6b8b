package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.CudaException;
import dev.tandem.cuda.bind.CublasLt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * A prompt's expert GEMMs through cuBLASLt, each shape with the algorithm that ran fastest when it
 * was first seen. cublasGemmEx picks one algorithm by its heuristic; on the expert shapes (a few
 * hundred rows, row counts that are no multiple of a tile) torch's pick ran up to 15 % faster, and
 * the heuristic's list holds faster ones still. Row counts vary from prompt to prompt, so a shape's
 * choice is kept for its bucket of {@value #BUCKET_ROWS} rows and reused for the others in it (an
 * algorithm does not depend on the row count; one that cuBLASLt refuses for a count is replaced by
 * the heuristic's first). Timing waits for the whole device, once per bucket: a few milliseconds
 * on a shape's first prompt. {@code -Dtandem.cuda.ltGemm=off|heuristic|tuned} (default tuned) for
 * A/B runs, {@code -Dtandem.cuda.ltGemmLog=true} logs each timing.
 */
final class TunedGemms {
    enum Mode { OFF, HEURISTIC, TUNED }

    static final Mode MODE = mode(System.getProperty("tandem.cuda.ltGemm", "tuned"));
    private static final boolean LOG_TIMINGS = Boolean.getBoolean("tandem.cuda.ltGemmLog");
    static final int BUCKET_ROWS = 64;
    private static final int CANDIDATES = 8;
    private static final int TIMED_RUNS = 3;

    private final CudaDriver driver;
    private final CublasLt lt;
    private final MemorySegment handle;
    private final Runnable quiesce;
    private final Consumer<String> log;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment candidates = arena.allocate(CublasLt.ALGO_BYTES * CANDIDATES, 8);
    private final MemorySegment start;
    private final MemorySegment end;
    private final List<Site> sites = new ArrayList<>();

    private static Mode mode(String name) {
        for (Mode m : Mode.values()) {
            if (m.name().equalsIgnoreCase(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException("-Dtandem.cuda.ltGemm=" + name + ": expected off, heuristic or tuned");
    }

    /** {@code quiesce} waits until every stream the backend uses is idle, so that a timing sees the device alone. */
    TunedGemms(CudaDriver driver, Runnable quiesce, Consumer<String> log) {
        this.driver = driver;
        this.lt = CublasLt.get();
        this.handle = lt.create();
        this.quiesce = quiesce;
        this.log = log;
        this.start = driver.createEvent();
        this.end = driver.createEvent();
    }

    /** The fixed part of a GEMM: everything but its column count n (the rows of a group). */
    private final class Site {
        final int transA, transB, m, k, aType, bType, cType, lda, ldb, ldc;
        final MemorySegment desc;
        Plan[] byColumns = new Plan[0];
        MemorySegment[] byBucket = new MemorySegment[0];

        Site(int transA, int transB, int m, int k, int aType, int bType, int cType, int lda, int ldb, int ldc) {
            this.transA = transA;
            this.transB = transB;
            this.m = m;
            this.k = k;
            this.aType = aType;
            this.bType = bType;
            this.cType = cType;
            this.lda = lda;
            this.ldb = ldb;
            this.ldc = ldc;
            this.desc = lt.matmulDesc(transA, transB);
        }

        boolean is(int transA, int transB, int m, int k, int aType, int bType, int cType, int lda, int ldb, int ldc) {
            return this.transA == transA && this.transB == transB && this.m == m && this.k == k && this.aType == aType
                    && this.bType == bType && this.cType == cType && this.lda == lda && this.ldb == ldb
                    && this.ldc == ldc;
        }

        Plan plan(int n) {
            if (n >= byColumns.length) {
                byColumns = Arrays.copyOf(byColumns, Math.max(n + 1, 2 * byColumns.length));
            }
            Plan p = byColumns[n];
            if (p == null) {
                p = byColumns[n] = new Plan(this, n);
            }
            return p;
        }
    }

    /** One shape's layouts and algorithm. */
    private final class Plan {
        final int n;
        final MemorySegment a, b, c;
        final MemorySegment algo = arena.allocate(CublasLt.ALGO_BYTES, 8);
        boolean chosen;   // algo holds the bucket's choice or the heuristic's first
        boolean refused;  // cuBLASLt runs none of its algorithms: cublasGemmEx takes it

        Plan(Site s, int n) {
            this.n = n;
            a = s.transA == 0 ? lt.layout(s.aType, s.m, s.k, s.lda) : lt.layout(s.aType, s.k, s.m, s.lda);
            b = s.transB == 0 ? lt.layout(s.bType, s.k, n, s.ldb) : lt.layout(s.bType, n, s.k, s.ldb);
            c = lt.layout(s.cType, s.m, n, s.ldc);
        }
    }

    /**
     * {@code C = alpha · op(A) · op(B) + beta · C} (column-major, {@code m × n} from {@code k}) on
     * {@code stream} with its workspace. False where cuBLASLt does not take the shape (or the mode is
     * off): the caller runs it through cublasGemmEx.
     */
    boolean gemm(MemorySegment stream, long workspace, long workspaceBytes, int transA, int transB, int m, int n,
                 int k, MemorySegment alpha, long a, int aType, int lda, long b, int bType, int ldb, MemorySegment beta,
                 long c, int cType, int ldc) {
        if (MODE == Mode.OFF) {
            return false;
        }
        Site site = site(transA, transB, m, k, aType, bType, cType, lda, ldb, ldc);
        Plan plan = site.plan(n);
        if (plan.refused) {
            return false;
        }
        if (!plan.chosen) {
            choose(site, plan, stream, workspace, workspaceBytes, alpha, a, b, beta, c);
            if (plan.refused) {
                return false;
            }
        }
        int status = lt.matmul(handle, site.desc, alpha, a, plan.a, b, plan.b, beta, c, plan.c, plan.algo, workspace,
                workspaceBytes, stream);
        if (status != 0) { // the bucket's algorithm does not take this row count: the heuristic's first
            int found = lt.heuristic(handle, site.desc, plan.a, plan.b, plan.c, workspaceBytes, 1, plan.algo);
            status = found == 0 ? status : lt.matmul(handle, site.desc, alpha, a, plan.a, b, plan.b, beta, c, plan.c,
                    plan.algo, workspace, workspaceBytes, stream);
            if (status != 0) {
                plan.refused = true;
                return false;
            }
        }
        return true;
    }

    private Site site(int transA, int transB, int m, int k, int aType, int bType, int cType, int lda, int ldb,
                      int ldc) {
        for (int i = 0; i < sites.size(); i++) {
            Site s = sites.get(i);
            if (s.is(transA, transB, m, k, aType, bType, cType, lda, ldb, ldc)) {
                return s;
            }
        }
        Site s = new Site(transA, transB, m, k, aType, bType, cType, lda, ldb, ldc);
        sites.add(s);
        return s;
    }

    /** The bucket's algorithm, or (its first shape) the fastest of the heuristic's candidates. */
    private void choose(Site site, Plan plan, MemorySegment stream, long workspace, long workspaceBytes,
                        MemorySegment alpha, long a, long b, MemorySegment beta, long c) {
        int bucket = (plan.n + BUCKET_ROWS - 1) / BUCKET_ROWS;
        if (bucket >= site.byBucket.length) {
            site.byBucket = Arrays.copyOf(site.byBucket, Math.max(bucket + 1, 2 * site.byBucket.length));
        }
        MemorySegment kept = site.byBucket[bucket];
        if (kept != null) {
            plan.algo.copyFrom(kept);
            plan.chosen = true;
            return;
        }
        int found = lt.heuristic(handle, site.desc, plan.a, plan.b, plan.c, workspaceBytes, CANDIDATES, candidates);
        if (found == 0) {
            plan.refused = true;
            return;
        }
        int best = 0;
        if (MODE == Mode.TUNED && found > 1) {
            quiesce.run();
            float[] millis = new float[found];
            for (int i = 0; i < found; i++) {
                millis[i] = time(site, plan, candidate(i), stream, workspace, workspaceBytes, alpha, a, b, beta, c);
                if (millis[i] < millis[best]) {
                    best = i;
                }
            }
            if (LOG_TIMINGS) {
                log.accept(String.format("cuBLASLt %d×%d×%d (A type %d, C type %d): %d candidates, first %.1f µs, "
                                + "best (#%d) %.1f µs", site.m, plan.n, site.k, site.aType, site.cType, found,
                        1000 * millis[0], best, 1000 * millis[best]));
            }
        }
        plan.algo.copyFrom(candidate(best));
        site.byBucket[bucket] = arena.allocate(CublasLt.ALGO_BYTES, 8).copyFrom(candidate(best));
        plan.chosen = true;
    }

    private MemorySegment candidate(int i) {
        return candidates.asSlice(i * CublasLt.ALGO_BYTES, CublasLt.ALGO_BYTES);
    }

    /** Milliseconds a run of {@code algo} takes, after one untimed run; infinite if cuBLASLt refuses it. */
    private float time(Site site, Plan plan, MemorySegment algo, MemorySegment stream, long workspace,
                       long workspaceBytes, MemorySegment alpha, long a, long b, MemorySegment beta, long c) {
        if (lt.matmul(handle, site.desc, alpha, a, plan.a, b, plan.b, beta, c, plan.c, algo, workspace, workspaceBytes,
                stream) != 0) {
            return Float.POSITIVE_INFINITY;
        }
        driver.record(start, stream);
        for (int r = 0; r < TIMED_RUNS; r++) {
            lt.matmul(handle, site.desc, alpha, a, plan.a, b, plan.b, beta, c, plan.c, algo, workspace, workspaceBytes,
                    stream);
        }
        driver.record(end, stream);
        driver.synchronizeEvent(end);
        return driver.elapsedMillis(start, end) / TIMED_RUNS;
    }

    /** After every stream that used it has drained. */
    void close() {
        for (Site s : sites) {
            for (Plan p : s.byColumns) {
                if (p != null) {
                    lt.destroyLayout(p.a);
                    lt.destroyLayout(p.b);
                    lt.destroyLayout(p.c);
                }
            }
            lt.destroyMatmulDesc(s.desc);
        }
        try {
            lt.destroy(handle);
        } catch (CudaException e) {
            log.accept("cuBLASLt handle not destroyed: " + e.getMessage());
        }
        driver.destroyEvent(start);
        driver.destroyEvent(end);
        arena.close();
    }
}
