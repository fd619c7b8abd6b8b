package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.Bf16;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The CPU backend: weights stay in the memory-mapped checkpoint, activations and the KV cache
 * live off-heap, and the heavy kernels (matmul, attention) run on a dedicated {@link KernelPool}.
 * The light per-row operations run on the calling thread: they touch a few KB per token.
 * One caller at a time.
 */
public final class CpuBackend implements ComputeBackend {
    private final Arena arena = Arena.ofShared();
    private final KernelPool pool;
    private final MatmulKernel matmul;
    private final TransposedMatmulKernel matmulTransposed;
    private final AttentionKernel attention;
    private final RowOps rowOps = new RowOps();
    private boolean closed;

    private final int denseMoeMaxRows;
    private dev.tandem.core.sampling.Sampler sampler; // made for the first vocabulary sampled
    private float[] sampleRow = new float[0];

    public CpuBackend(int threads) {
        this(threads, 0);
    }

    /**
     * {@code denseMoeMaxRows} above 0 makes the colocated MoE take the dense path (every expert
     * over every token, weighted) up to that many tokens, as the CUDA backend does: for tests
     * that hold that path to the routed one.
     */
    public CpuBackend(int threads, int denseMoeMaxRows) {
        this.denseMoeMaxRows = denseMoeMaxRows;
        pool = new KernelPool(threads);
        matmul = new MatmulKernel(pool);
        matmulTransposed = new TransposedMatmulKernel(pool);
        attention = new AttentionKernel(pool);
    }

    /** One kernel thread per available processor. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public int threads() {
        return pool.threads();
    }

    @Override
    public DeviceWeight weight(TensorView tensor) {
        if (!tensor.dtype().isFloatingWeight()) {
            throw new IllegalArgumentException(tensor.name() + ": dtype " + tensor.dtype() + " is not a weight type");
        }
        return new CpuWeight(tensor.data(), tensor.dtype(), tensor.rows(), tensor.cols());
    }

    @Override
    public DeviceWeight syntheticWeight(String name, int rows, int cols, float halfWidth, long seed) {
        long elements = (long) rows * cols;
        MemorySegment data = arena.allocate(elements * 2, 64);
        long chunk = 1 << 20;
        java.util.stream.LongStream.range(0, (elements + chunk - 1) / chunk).parallel().forEach(c ->
                dev.tandem.core.synth.SyntheticCheckpoint.fillChunk(data, halfWidth, seed + c, c * chunk,
                        Math.min(elements, (c + 1) * chunk)));
        return new CpuWeight(data, dev.tandem.core.checkpoint.DType.BF16, rows, cols);
    }

    @Override
    public Activations allocate(int rows, int cols) {
        MemorySegment data = arena.allocate((long) rows * cols * Float.BYTES, 64);
        return new CpuActivations(data, rows, cols, 0, cols);
    }

    @Override
    public Activations wrapHost(MemorySegment memory, int rows, int cols) {
        if (memory.byteSize() < (long) rows * cols * Float.BYTES) {
            throw new IllegalArgumentException(memory.byteSize() + " bytes cannot hold (" + rows + ", " + cols + ") floats");
        }
        return new CpuActivations(memory, rows, cols, 0, cols);
    }

    @Override
    public KvStorage allocateKv(int layers, int blocks, int blockSize, int kvHeads, int headDim) {
        return new CpuKvStorage(arena, layers, blocks, blockSize, kvHeads, headDim);
    }

    @Override
    public void embed(Activations out, DeviceWeight table, int[] tokens, int rows) {
        rowOps.embed(cpu(out), (CpuWeight) table, tokens, rows);
    }

    @Override
    public void matmul(Activations out, Activations in, DeviceWeight w, int rows) {
        matmul.run(cpu(out), cpu(in), (CpuWeight) w, rows);
    }

    @Override
    public void matmulTransposed(Activations out, Activations in, DeviceWeight w, int rows) {
        matmulTransposed.run(cpu(out), cpu(in), (CpuWeight) w, rows);
    }

    @Override
    public void rmsNorm(Activations out, Activations in, DeviceWeight gain, float eps, int rows) {
        rowOps.rmsNorm(cpu(out), cpu(in), (CpuWeight) gain, eps, rows);
    }

    @Override
    public void layerNorm(Activations out, Activations in, DeviceWeight gain, float eps, int rows) {
        rowOps.layerNorm(cpu(out), cpu(in), (CpuWeight) gain, eps, rows);
    }

    @Override
    public void clamp(Activations x, float limit, int rows) {
        rowOps.clamp(cpu(x), limit, rows);
    }

    @Override
    public void rope(Activations x, int headDim, double theta, int[] positions, int rows) {
        rowOps.rope(cpu(x), headDim, theta, positions, rows);
    }

    @Override
    public void writeKv(KvStorage kv, int layer, Activations k, Activations v, int[] slots, int rows) {
        CpuKvStorage storage = (CpuKvStorage) kv;
        CpuActivations keys = cpu(k);
        CpuActivations values = cpu(v);
        long rowBytes = (long) storage.rowFloats * Float.BYTES;
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(keys.data, keys.at(i, 0), storage.keys[layer], slots[i] * rowBytes, rowBytes);
            MemorySegment.copy(values.data, values.at(i, 0), storage.values[layer], slots[i] * rowBytes, rowBytes);
        }
    }

    /** The cache holds float32 (see {@link CpuKvStorage}): rows are copied as they are. */
    @Override
    public void readKv(KvStorage kv, int layer, int[] slots, int count, float[] keys, float[] values) {
        CpuKvStorage storage = checkedRows((CpuKvStorage) kv, layer, slots, count, keys, values);
        int row = storage.rowFloats;
        for (int i = 0; i < count; i++) {
            long at = (long) slots[i] * row * Float.BYTES;
            MemorySegment.copy(storage.keys[layer], CpuActivations.FLOAT, at, keys, i * row, row);
            MemorySegment.copy(storage.values[layer], CpuActivations.FLOAT, at, values, i * row, row);
        }
    }

    @Override
    public void writeKvRows(KvStorage kv, int layer, int[] slots, int count, float[] keys, float[] values) {
        CpuKvStorage storage = checkedRows((CpuKvStorage) kv, layer, slots, count, keys, values);
        int row = storage.rowFloats;
        for (int i = 0; i < count; i++) {
            long at = (long) slots[i] * row * Float.BYTES;
            MemorySegment.copy(keys, i * row, storage.keys[layer], CpuActivations.FLOAT, at, row);
            MemorySegment.copy(values, i * row, storage.values[layer], CpuActivations.FLOAT, at, row);
        }
    }

    /** One bulk copy a slot and half: the cache's float32 rows are the host rows' bytes. */
    @Override
    public void copyKvToHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment dst,
                             long offset) {
        CpuKvStorage storage = (CpuKvStorage) kv;
        KvStorage.checkHostRows(storage, layer, slots, from, count, dst, offset);
        long rowBytes = (long) storage.rowFloats * Float.BYTES;
        long values = offset + count * rowBytes;
        for (int i = 0; i < count; i++) {
            long at = slots[from + i] * rowBytes;
            MemorySegment.copy(storage.keys[layer], at, dst, offset + i * rowBytes, rowBytes);
            MemorySegment.copy(storage.values[layer], at, dst, values + i * rowBytes, rowBytes);
        }
    }

    @Override
    public void copyKvFromHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment src,
                               long offset) {
        CpuKvStorage storage = (CpuKvStorage) kv;
        KvStorage.checkHostRows(storage, layer, slots, from, count, src, offset);
        long rowBytes = (long) storage.rowFloats * Float.BYTES;
        long values = offset + count * rowBytes;
        for (int i = 0; i < count; i++) {
            long at = slots[from + i] * rowBytes;
            MemorySegment.copy(src, offset + i * rowBytes, storage.keys[layer], at, rowBytes);
            MemorySegment.copy(src, values + i * rowBytes, storage.values[layer], at, rowBytes);
        }
    }

    private static CpuKvStorage checkedRows(CpuKvStorage storage, int layer, int[] slots, int count, float[] keys,
                                            float[] values) {
        KvStorage.checkRows(storage, storage.rowFloats, layer, slots, count, keys, values);
        return storage;
    }

    @Override
    public void attention(Activations out, Activations q, KvStorage kv, int layer, TokenBatch batch, int headDim,
                          int window) {
        attention.run(cpu(out), cpu(q), (CpuKvStorage) kv, layer, batch, headDim, window);
    }

    @Override
    public void siluMul(Activations gate, Activations up, int rows) {
        rowOps.siluMul(cpu(gate), cpu(up), rows);
    }

    @Override
    public void siluMulScaled(Activations gate, Activations up, Activations gates, int expert, int rows) {
        rowOps.siluMulScaled(cpu(gate), cpu(up), cpu(gates), expert, rows);
    }

    @Override
    public void routeDense(Activations gates, Activations logits, int topK, float normP, int rows) {
        rowOps.routeDense(cpu(gates), cpu(logits), topK, normP, rows);
    }

    @Override
    public int denseMoeMaxRows() {
        return denseMoeMaxRows;
    }

    @Override
    public void add(Activations acc, Activations x, int rows) {
        rowOps.add(cpu(acc), cpu(x), rows);
    }

    @Override
    public void gatherRows(Activations out, Activations in, int[] rowIndex, int rows) {
        CpuActivations o = cpu(out);
        CpuActivations src = cpu(in);
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(src.data, src.at(rowIndex[i], 0), o.data, o.at(i, 0), (long) src.cols * Float.BYTES);
        }
    }

    @Override
    public void scatterAddScaled(Activations acc, Activations in, int[] rowIndex, float[] scale, int rows) {
        rowOps.scatterAddScaled(cpu(acc), cpu(in), rowIndex, scale, rows);
    }

    @Override
    public void combineRows(Activations acc, Activations in, int[] targets, int[] start, int[] source, float[] weight,
                            int count) {
        rowOps.combineRows(cpu(acc), cpu(in), targets, start, source, weight, count);
    }

    @Override
    public void zero(Activations x, int rows) {
        CpuActivations a = cpu(x);
        for (int i = 0; i < rows; i++) {
            a.data.asSlice(a.at(i, 0), (long) a.cols * Float.BYTES).fill((byte) 0);
        }
    }

    @Override
    public void copyRows(Activations dst, Activations src, int rows) {
        CpuActivations d = cpu(dst);
        CpuActivations s = cpu(src);
        if (d.cols != s.cols || rows > d.rowCapacity || rows > s.rowCapacity) {
            throw new IllegalArgumentException("cannot copy " + rows + " rows of " + s.cols + " columns into "
                    + d.rowCapacity + " rows of " + d.cols);
        }
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(s.data, s.at(i, 0), d.data, d.at(i, 0), (long) d.cols * Float.BYTES);
        }
    }

    @Override
    public void copyRowsToBf16(MemorySegment dst, Activations src, int rows) {
        CpuActivations s = cpu(src);
        checkBf16Rows(dst, s, rows);
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < s.cols; c++) {
                dst.set(CpuActivations.SHORT, 2L * ((long) i * s.cols + c), Bf16.fromFloat(s.get(i, c)));
            }
        }
    }

    @Override
    public void copyRowsFromBf16(Activations dst, MemorySegment src, int rows) {
        CpuActivations d = cpu(dst);
        checkBf16Rows(src, d, rows);
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < d.cols; c++) {
                d.set(i, c, Bf16.toFloat(src.get(CpuActivations.SHORT, 2L * ((long) i * d.cols + c))));
            }
        }
    }

    private static void checkBf16Rows(MemorySegment host, CpuActivations rowsOf, int rows) {
        if (rows > rowsOf.rowCapacity || host.byteSize() < 2L * rows * rowsOf.cols) {
            throw new IllegalArgumentException(rows + " bf16 rows of " + rowsOf.cols + " columns do not fit "
                    + host.byteSize() + " bytes of host memory and " + rowsOf.rowCapacity + " rows");
        }
    }

    /** With the host {@link dev.tandem.core.sampling.Sampler}, on a copy of each row. */
    @Override
    public void sampleRows(Activations logits, int rows, float[] temperature, float[] topP, int[] topK, float[] minP,
                           float[] uniform, int[] out) {
        CpuActivations a = cpu(logits);
        if (sampler == null || sampleRow.length != a.cols) {
            sampler = new dev.tandem.core.sampling.Sampler(a.cols);
            sampleRow = new float[a.cols];
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(a.data, CpuActivations.FLOAT, a.at(r, 0), sampleRow, 0, a.cols);
            out[r] = sampler.sample(sampleRow, 0, temperature[r], topP[r], topK[r], minP[r], uniform[r]);
        }
    }

    @Override
    public void copyToHost(Activations src, int rows, float[] dst) {
        CpuActivations a = cpu(src);
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(a.data, CpuActivations.FLOAT, a.at(i, 0), dst, i * a.cols, a.cols);
        }
    }

    private static CpuActivations cpu(Activations a) {
        return (CpuActivations) a;
    }

    /** Idempotent: a model and its loader may both close the backend they share. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        pool.close();
        arena.close();
    }
}
