package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;

import java.lang.foreign.MemorySegment;

/**
 * {@code out = in · w} with w (f, d) row-major: DBRX stores its expert down-projection this way.
 * Each task owns a strip of output columns and streams every weight row's part of that strip
 * once, adding {@code in[t, f] · w[f, strip]} into per-worker accumulators (kept bf16-permuted
 * and unpermuted at the end).
 */
final class TransposedMatmulKernel implements KernelPool.Task {
    private static final int BLOCKS_PER_STRIP = 4;
    private static final int STRIP = BLOCKS_PER_STRIP * Bf16.BLOCK;

    private final float[][] accumulators;
    private final float[][] unpermuted;
    private final KernelPool pool;
    private float[] x = new float[0];
    private CpuWeight w;
    private CpuActivations out;
    private int rows;

    TransposedMatmulKernel(KernelPool pool) {
        this.pool = pool;
        this.accumulators = new float[pool.threads()][0];
        this.unpermuted = new float[pool.threads()][STRIP];
    }

    void run(CpuActivations out, CpuActivations in, CpuWeight w, int rows) {
        if (in.cols != w.rows() || out.cols != w.cols()) {
            throw new IllegalArgumentException("matmul shapes: in (" + rows + ", " + in.cols + ") · w(" + w.rows()
                    + ", " + w.cols() + ") → out (" + rows + ", " + out.cols + ")");
        }
        in.checkRows(rows);
        out.checkRows(rows);
        if (x.length < rows * in.cols) {
            x = new float[rows * in.cols];
        }
        Layouts.copyRows(in, rows, x, false);
        this.w = w;
        this.out = out;
        this.rows = rows;
        pool.run((w.cols() + STRIP - 1) / STRIP, this);
        this.w = null;
        this.out = null;
    }

    @Override
    public void run(int task, int worker) {
        int col0 = task * STRIP;
        int width = Math.min(STRIP, w.cols() - col0);
        if (w.dtype() == DType.BF16 && width == STRIP) {
            bf16Strip(col0, worker);
        } else {
            scalarStrip(col0, width);
        }
    }

    private void bf16Strip(int col0, int worker) {
        float[] acc = accumulators[worker];
        if (acc.length < rows * STRIP) {
            acc = accumulators[worker] = new float[rows * STRIP];
        }
        java.util.Arrays.fill(acc, 0, rows * STRIP, 0f);
        MemorySegment data = w.data();
        int f = w.rows();
        int half = Bf16.BLOCK / 2;
        for (int r = 0; r < f; r++) {
            long base = w.rowOffset(r) + 2L * col0;
            for (int b = 0; b < BLOCKS_PER_STRIP; b++) {
                IntVector packed = Bf16.load(data, base + 2L * b * Bf16.BLOCK);
                FloatVector even = Bf16.evens(packed);
                FloatVector odd = Bf16.odds(packed);
                for (int t = 0; t < rows; t++) {
                    float s = x[t * f + r];
                    if (s == 0f) {
                        continue;
                    }
                    FloatVector sv = FloatVector.broadcast(Bf16.F, s);
                    int a = t * STRIP + b * Bf16.BLOCK;
                    even.fma(sv, FloatVector.fromArray(Bf16.F, acc, a)).intoArray(acc, a);
                    odd.fma(sv, FloatVector.fromArray(Bf16.F, acc, a + half)).intoArray(acc, a + half);
                }
            }
        }
        float[] natural = unpermuted[worker];
        for (int t = 0; t < rows; t++) {
            for (int b = 0; b < BLOCKS_PER_STRIP; b++) {
                Bf16.unpermute(acc, t * STRIP + b * Bf16.BLOCK, natural, b * Bf16.BLOCK, Bf16.BLOCK);
            }
            MemorySegment.copy(natural, 0, out.data, CpuActivations.FLOAT, out.at(t, col0), STRIP);
        }
    }

    private void scalarStrip(int col0, int width) {
        int f = w.rows();
        for (int t = 0; t < rows; t++) {
            for (int c = col0; c < col0 + width; c++) {
                float sum = 0f;
                for (int r = 0; r < f; r++) {
                    sum += x[t * f + r] * w.get(r, c);
                }
                out.set(t, c, sum);
            }
        }
    }
}
