package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

/**
 * {@code out = in · wᵀ}, the shape of every projection: w (n, k) in the checkpoint, in (rows, k)
 * and out (rows, n) float32. Parallel over chunks of weight rows; each weight row is streamed
 * once and meets up to four input rows while it is in registers and L1, so a decode batch costs
 * little more memory traffic than a single token. fp32 accumulation throughout.
 */
final class MatmulKernel implements KernelPool.Task {
    private static final int ROWS_PER_TASK = 16;
    private static final int TOKENS_PER_PASS = 4;

    private final KernelPool pool;
    private final float[][] rowScratch; // per worker, one weight row widened (fp16/fp32 path)
    private float[] x = new float[0];    // (rows, k) input, permuted for bf16
    private CpuWeight w;
    private CpuActivations out;
    private int rows;

    MatmulKernel(KernelPool pool) {
        this.pool = pool;
        this.rowScratch = new float[pool.threads()][0];
    }

    void run(CpuActivations out, CpuActivations in, CpuWeight w, int rows) {
        int k = w.cols();
        if (in.cols != k || out.cols != w.rows()) {
            throw new IllegalArgumentException("matmul shapes: in (" + rows + ", " + in.cols + ") · w(" + w.rows()
                    + ", " + k + ")ᵀ → out (" + rows + ", " + out.cols + ")");
        }
        in.checkRows(rows);
        out.checkRows(rows);
        if (x.length < rows * k) {
            x = new float[rows * k];
        }
        Layouts.copyRows(in, rows, x, w.dtype() == DType.BF16);
        this.w = w;
        this.out = out;
        this.rows = rows;
        pool.run((w.rows() + ROWS_PER_TASK - 1) / ROWS_PER_TASK, this);
        this.w = null;
        this.out = null;
    }

    @Override
    public void run(int task, int worker) {
        int first = task * ROWS_PER_TASK;
        int last = Math.min(first + ROWS_PER_TASK, w.rows());
        if (w.dtype() != DType.BF16) {
            for (int n = first; n < last; n++) {
                widenedRow(n, worker);
            }
            return;
        }
        int t = 0;
        for (; t + TOKENS_PER_PASS <= rows; t += TOKENS_PER_PASS) {
            for (int n = first; n < last; n++) {
                bf16Row4(n, t); // the task's 16 rows (128 KB at k = 4096) stay in L2 across token groups
            }
        }
        for (; t < rows; t++) { // batch 1, and what an expert sees in decode: four rows stream side by side
            int n = first;
            for (; n + 4 <= last; n += 4) {
                bf16FourRows(n, t);
            }
            for (; n < last; n++) {
                out.set(t, n, bf16Row1(n, t));
            }
        }
    }

    /**
     * Rows n..n+3 against one input row: four independent weight streams per core keep more
     * memory requests in flight, and each activation vector is loaded once for four rows
     * (measured 91% of the read bandwidth against 77% for one row at a time, bench/RESULTS.md).
     */
    private void bf16FourRows(int n, int t) {
        MemorySegment data = w.data();
        int k = w.cols();
        int full = k - k % Bf16.BLOCK;
        int half = Bf16.BLOCK / 2;
        int xo = t * k;
        long b0 = w.rowOffset(n), b1 = w.rowOffset(n + 1), b2 = w.rowOffset(n + 2), b3 = w.rowOffset(n + 3);
        FloatVector e0 = FloatVector.zero(Bf16.F), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
        for (int i = 0; i < full; i += Bf16.BLOCK) {
            FloatVector xe = FloatVector.fromArray(Bf16.F, x, xo + i);
            FloatVector xd = FloatVector.fromArray(Bf16.F, x, xo + i + half);
            IntVector p0 = Bf16.load(data, b0 + 2L * i);
            IntVector p1 = Bf16.load(data, b1 + 2L * i);
            IntVector p2 = Bf16.load(data, b2 + 2L * i);
            IntVector p3 = Bf16.load(data, b3 + 2L * i);
            e0 = Bf16.evens(p0).fma(xe, e0);
            o0 = Bf16.odds(p0).fma(xd, o0);
            e1 = Bf16.evens(p1).fma(xe, e1);
            o1 = Bf16.odds(p1).fma(xd, o1);
            e2 = Bf16.evens(p2).fma(xe, e2);
            o2 = Bf16.odds(p2).fma(xd, o2);
            e3 = Bf16.evens(p3).fma(xe, e3);
            o3 = Bf16.odds(p3).fma(xd, o3);
        }
        float s0 = e0.add(o0).reduceLanes(VectorOperators.ADD), s1 = e1.add(o1).reduceLanes(VectorOperators.ADD);
        float s2 = e2.add(o2).reduceLanes(VectorOperators.ADD), s3 = e3.add(o3).reduceLanes(VectorOperators.ADD);
        for (int i = full; i < k; i++) {
            float xi = x[xo + i];
            s0 += w.get(n, i) * xi;
            s1 += w.get(n + 1, i) * xi;
            s2 += w.get(n + 2, i) * xi;
            s3 += w.get(n + 3, i) * xi;
        }
        out.set(t, n, s0);
        out.set(t, n + 1, s1);
        out.set(t, n + 2, s2);
        out.set(t, n + 3, s3);
    }

    private float bf16Row1(int n, int t) {
        MemorySegment data = w.data();
        long base = w.rowOffset(n);
        int k = w.cols();
        int full = k - k % Bf16.BLOCK;
        int xo = t * k;
        int half = Bf16.BLOCK / 2;
        FloatVector accEven = FloatVector.zero(Bf16.F);
        FloatVector accOdd = FloatVector.zero(Bf16.F);
        for (int i = 0; i < full; i += Bf16.BLOCK) {
            IntVector packed = Bf16.load(data, base + 2L * i);
            accEven = Bf16.evens(packed).fma(FloatVector.fromArray(Bf16.F, x, xo + i), accEven);
            accOdd = Bf16.odds(packed).fma(FloatVector.fromArray(Bf16.F, x, xo + i + half), accOdd);
        }
        float sum = accEven.add(accOdd).reduceLanes(VectorOperators.ADD);
        for (int i = full; i < k; i++) {
            sum += w.get(n, i) * x[xo + i];
        }
        return sum;
    }

    private void bf16Row4(int n, int t) {
        MemorySegment data = w.data();
        long base = w.rowOffset(n);
        int k = w.cols();
        int full = k - k % Bf16.BLOCK;
        int half = Bf16.BLOCK / 2;
        int x0 = t * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        // even and odd products in separate accumulators: no FMA waits on another within an iteration
        FloatVector a0 = FloatVector.zero(Bf16.F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int i = 0; i < full; i += Bf16.BLOCK) {
            IntVector packed = Bf16.load(data, base + 2L * i);
            FloatVector even = Bf16.evens(packed);
            FloatVector odd = Bf16.odds(packed);
            a0 = even.fma(FloatVector.fromArray(Bf16.F, x, x0 + i), a0);
            b0 = odd.fma(FloatVector.fromArray(Bf16.F, x, x0 + i + half), b0);
            a1 = even.fma(FloatVector.fromArray(Bf16.F, x, x1 + i), a1);
            b1 = odd.fma(FloatVector.fromArray(Bf16.F, x, x1 + i + half), b1);
            a2 = even.fma(FloatVector.fromArray(Bf16.F, x, x2 + i), a2);
            b2 = odd.fma(FloatVector.fromArray(Bf16.F, x, x2 + i + half), b2);
            a3 = even.fma(FloatVector.fromArray(Bf16.F, x, x3 + i), a3);
            b3 = odd.fma(FloatVector.fromArray(Bf16.F, x, x3 + i + half), b3);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD), s1 = a1.add(b1).reduceLanes(VectorOperators.ADD);
        float s2 = a2.add(b2).reduceLanes(VectorOperators.ADD), s3 = a3.add(b3).reduceLanes(VectorOperators.ADD);
        for (int i = full; i < k; i++) {
            float wi = w.get(n, i);
            s0 += wi * x[x0 + i];
            s1 += wi * x[x1 + i];
            s2 += wi * x[x2 + i];
            s3 += wi * x[x3 + i];
        }
        out.set(t, n, s0);
        out.set(t + 1, n, s1);
        out.set(t + 2, n, s2);
        out.set(t + 3, n, s3);
    }

    /** fp16 and fp32 weights: widen the row once into scratch, then plain float dot products. */
    private void widenedRow(int n, int worker) {
        int k = w.cols();
        float[] row = rowScratch[worker];
        if (row.length < k) {
            row = rowScratch[worker] = new float[k];
        }
        for (int i = 0; i < k; i++) {
            row[i] = w.get(n, i);
        }
        for (int t = 0; t < rows; t++) {
            out.set(t, n, VectorMath.dot(row, 0, x, t * k, k));
        }
    }
}
