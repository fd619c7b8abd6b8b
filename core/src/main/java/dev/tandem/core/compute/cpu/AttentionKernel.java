package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.TokenBatch;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;

/**
 * Causal grouped-query attention over the paged KV cache, one task per (token, key/value head):
 * the query heads that share a key/value head read its cached rows together.
 * {@code softmax(q·kᵀ / sqrt(headDim)) · v}, scores and sums in float32.
 */
final class AttentionKernel implements KernelPool.Task {
    private final KernelPool pool;
    private final float[][] scores;  // per worker, (queryHeadsPerKv, context)
    private final float[][] sums;    // per worker, (queryHeadsPerKv, headDim)
    private final float[][] queries; // per worker, (queryHeadsPerKv, headDim)
    private CpuActivations out;
    private CpuActivations q;
    private CpuKvStorage kv;
    private TokenBatch batch;
    private int layer;
    private int headDim;
    private int window;
    private int kvHeads;
    private int group;
    private float scale;

    AttentionKernel(KernelPool pool) {
        this.pool = pool;
        int threads = pool.threads();
        scores = new float[threads][0];
        sums = new float[threads][0];
        queries = new float[threads][0];
    }

    void run(CpuActivations out, CpuActivations q, CpuKvStorage kv, int layer, TokenBatch batch, int headDim,
             int window) {
        this.out = out;
        this.q = q;
        this.kv = kv;
        this.batch = batch;
        this.layer = layer;
        this.headDim = headDim;
        this.window = window;
        this.kvHeads = kv.rowFloats / headDim;
        this.group = q.cols / headDim / kvHeads;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        pool.run(batch.size() * kvHeads, this);
        this.batch = null;
    }

    @Override
    public void run(int task, int worker) {
        int token = task / kvHeads;
        int kvHead = task % kvHeads;
        int pos = batch.positions[token];
        int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
        int context = pos - first + 1;
        float[] s = ensure(scores, worker, group * context);
        float[] acc = ensure(sums, worker, group * headDim);
        float[] qs = ensure(queries, worker, group * headDim);
        int[] table = batch.blockTables[token];
        int blockSize = kv.blockSize;
        MemorySegment keys = kv.keys[layer];
        MemorySegment values = kv.values[layer];
        long headOffset = (long) kvHead * headDim * Float.BYTES;
        long rowBytes = (long) kv.rowFloats * Float.BYTES;
        for (int g = 0; g < group; g++) {
            MemorySegment.copy(q.data, CpuActivations.FLOAT, q.at(token, (kvHead * group + g) * headDim), qs, g * headDim, headDim);
        }
        for (int p = first; p <= pos; p++) {
            long row = (long) (table[p / blockSize] * blockSize + p % blockSize) * rowBytes + headOffset;
            for (int g = 0; g < group; g++) {
                s[g * context + p - first] = dot(qs, g * headDim, keys, row, headDim) * scale;
            }
        }
        java.util.Arrays.fill(acc, 0, group * headDim, 0f);
        for (int g = 0; g < group; g++) {
            softmax(s, g * context, context);
        }
        for (int p = first; p <= pos; p++) {
            long row = (long) (table[p / blockSize] * blockSize + p % blockSize) * rowBytes + headOffset;
            for (int g = 0; g < group; g++) {
                axpy(s[g * context + p - first], values, row, acc, g * headDim, headDim);
            }
        }
        for (int g = 0; g < group; g++) {
            MemorySegment.copy(acc, g * headDim, out.data, CpuActivations.FLOAT, out.at(token, (kvHead * group + g) * headDim), headDim);
        }
    }

    private static float[] ensure(float[][] perWorker, int worker, int length) {
        if (perWorker[worker].length < length) {
            perWorker[worker] = new float[Math.max(length, perWorker[worker].length * 2)];
        }
        return perWorker[worker];
    }

    private static void softmax(float[] x, int offset, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = offset; i < offset + n; i++) {
            max = Math.max(max, x[i]);
        }
        float sum = 0f;
        for (int i = offset; i < offset + n; i++) {
            x[i] = (float) Math.exp(x[i] - max);
            sum += x[i];
        }
        float inv = 1f / sum;
        for (int i = offset; i < offset + n; i++) {
            x[i] *= inv;
        }
    }

    private static float dot(float[] a, int aOffset, MemorySegment b, long bByteOffset, int n) {
        int full = VectorMath.F.loopBound(n);
        FloatVector acc = FloatVector.zero(VectorMath.F);
        for (int i = 0; i < full; i += VectorMath.F.length()) {
            acc = FloatVector.fromArray(VectorMath.F, a, aOffset + i)
                    .fma(FloatVector.fromMemorySegment(VectorMath.F, b, bByteOffset + 4L * i, Bf16.LE), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (int i = full; i < n; i++) {
            sum += a[aOffset + i] * b.get(CpuActivations.FLOAT, bByteOffset + 4L * i);
        }
        return sum;
    }

    private static void axpy(float s, MemorySegment x, long xByteOffset, float[] acc, int accOffset, int n) {
        int full = VectorMath.F.loopBound(n);
        FloatVector sv = FloatVector.broadcast(VectorMath.F, s);
        for (int i = 0; i < full; i += VectorMath.F.length()) {
            FloatVector.fromMemorySegment(VectorMath.F, x, xByteOffset + 4L * i, Bf16.LE)
                    .fma(sv, FloatVector.fromArray(VectorMath.F, acc, accOffset + i)).intoArray(acc, accOffset + i);
        }
        for (int i = full; i < n; i++) {
            acc[accOffset + i] += s * x.get(CpuActivations.FLOAT, xByteOffset + 4L * i);
        }
    }
}
