package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * {@code out = in · w} with w (f, d) row-major: DBRX stores its expert down-projection this way.
 * The weights are streamed in order: each task takes a block of whole rows (contiguous bytes)
 * and adds {@code in[t, r] · w[r, :]} into its own partial sums of every output, four rows per
 * pass; the partial sums are then added in task order, so the result does not depend on
 * scheduling. (Walking column strips down all rows instead touches a new page on every access
 * and ran at 4% of the memory bandwidth; see bench/RESULTS.md.) Partial sums of bf16 weights are
 * kept evens-then-odds per block and put back in order at the end.
 */
final class TransposedMatmulKernel implements KernelPool.Task {
    private static final int MIN_ROWS_PER_TASK = 64;
    private static final int TASKS_PER_THREAD = 4;
    private static final int ROWS_PER_PASS = 4;

    private final KernelPool pool;
    private float[][] partial = new float[0][]; // (task) (tokens, d)
    private float[] x = new float[0];            // (tokens, f)
    private float[] natural = new float[0];      // (d)
    private CpuWeight w;
    private int rows;
    private int rowsPerTask;

    TransposedMatmulKernel(KernelPool pool) {
        this.pool = pool;
    }

    void run(CpuActivations out, CpuActivations in, CpuWeight w, int rows) {
        int f = w.rows();
        int d = w.cols();
        if (in.cols != f || out.cols != d) {
            throw new IllegalArgumentException("matmul shapes: in (" + rows + ", " + in.cols + ") · w(" + f
                    + ", " + d + ") → out (" + rows + ", " + out.cols + ")");
        }
        in.checkRows(rows);
        out.checkRows(rows);
        if (x.length < rows * f) {
            x = new float[rows * f];
        }
        Layouts.copyRows(in, rows, x, false);
        // a task count fixed by the shape and the pool, never by timing: the sum order is reproducible
        int tasks = Math.max(1, Math.min(pool.threads() * TASKS_PER_THREAD, f / MIN_ROWS_PER_TASK));
        rowsPerTask = (f + tasks - 1) / tasks;
        tasks = (f + rowsPerTask - 1) / rowsPerTask;
        if (partial.length < tasks) {
            partial = Arrays.copyOf(partial, tasks);
        }
        for (int t = 0; t < tasks; t++) {
            if (partial[t] == null || partial[t].length < rows * d) {
                partial[t] = new float[rows * d];
            }
        }
        this.w = w;
        this.rows = rows;
        pool.run(tasks, this);
        this.w = null;
        float[] sum = partial[0];
        for (int t = 1; t < tasks; t++) {
            VectorMath.axpy(1f, partial[t], 0, sum, 0, rows * d);
        }
        if (natural.length < d) {
            natural = new float[d];
        }
        for (int t = 0; t < rows; t++) {
            if (w.dtype() == DType.BF16) {
                Bf16.unpermute(sum, t * d, natural, 0, d);
                MemorySegment.copy(natural, 0, out.data, CpuActivations.FLOAT, out.at(t, 0), d);
            } else {
                MemorySegment.copy(sum, t * d, out.data, CpuActivations.FLOAT, out.at(t, 0), d);
            }
        }
    }

    @Override
    public void run(int task, int worker) {
        float[] acc = partial[task];
        int f = w.rows();
        int d = w.cols();
        Arrays.fill(acc, 0, rows * d, 0f);
        int first = task * rowsPerTask;
        int last = Math.min(first + rowsPerTask, f);
        int r = first;
        if (w.dtype() == DType.BF16) {
            for (; r + ROWS_PER_PASS <= last; r += ROWS_PER_PASS) {
                for (int t = 0; t < rows; t++) {
                    bf16FourRows(r, t, acc);
                }
            }
        }
        for (; r < last; r++) {
            for (int t = 0; t < rows; t++) {
                scalarRow(r, t, acc);
            }
        }
    }

    /** {@code acc[t, :] += Σ_{i<4} in[t, r+i] · w[r+i, :]}, in bf16-permuted order. */
    private void bf16FourRows(int r, int t, float[] acc) {
        int f = w.rows();
        int d = w.cols();
        int full = d - d % Bf16.BLOCK;
        int half = Bf16.BLOCK / 2;
        float x0 = x[t * f + r], x1 = x[t * f + r + 1], x2 = x[t * f + r + 2], x3 = x[t * f + r + 3];
        FloatVector s0 = FloatVector.broadcast(Bf16.F, x0), s1 = FloatVector.broadcast(Bf16.F, x1);
        FloatVector s2 = FloatVector.broadcast(Bf16.F, x2), s3 = FloatVector.broadcast(Bf16.F, x3);
        MemorySegment data = w.data();
        long rowBytes = 2L * d;
        long base = w.rowOffset(r);
        int a = t * d;
        for (int c = 0; c < full; c += Bf16.BLOCK) {
            long at = base + 2L * c;
            IntVector p0 = Bf16.load(data, at);
            IntVector p1 = Bf16.load(data, at + rowBytes);
            IntVector p2 = Bf16.load(data, at + 2 * rowBytes);
            IntVector p3 = Bf16.load(data, at + 3 * rowBytes);
            FloatVector even = FloatVector.fromArray(Bf16.F, acc, a + c);
            FloatVector odd = FloatVector.fromArray(Bf16.F, acc, a + c + half);
            even = Bf16.evens(p3).fma(s3, Bf16.evens(p2).fma(s2, Bf16.evens(p1).fma(s1, Bf16.evens(p0).fma(s0, even))));
            odd = Bf16.odds(p3).fma(s3, Bf16.odds(p2).fma(s2, Bf16.odds(p1).fma(s1, Bf16.odds(p0).fma(s0, odd))));
            even.intoArray(acc, a + c);
            odd.intoArray(acc, a + c + half);
        }
        for (int c = full; c < d; c++) { // the tail past the last full block stays in natural order
            acc[a + c] += x0 * w.get(r, c) + x1 * w.get(r + 1, c) + x2 * w.get(r + 2, c) + x3 * w.get(r + 3, c);
        }
    }

    /** One row, any dtype; bf16 keeps the permuted order of {@link #bf16FourRows}. */
    private void scalarRow(int r, int t, float[] acc) {
        int f = w.rows();
        int d = w.cols();
        float s = x[t * f + r];
        if (s == 0f) {
            return;
        }
        int full = w.dtype() == DType.BF16 ? d - d % Bf16.BLOCK : 0;
        int half = Bf16.BLOCK / 2;
        int a = t * d;
        for (int b = 0; b < full; b += Bf16.BLOCK) {
            for (int i = 0; i < half; i++) {
                acc[a + b + i] += s * w.get(r, b + 2 * i);
                acc[a + b + half + i] += s * w.get(r, b + 2 * i + 1);
            }
        }
        for (int c = full; c < d; c++) {
            acc[a + c] += s * w.get(r, c);
        }
    }
}
