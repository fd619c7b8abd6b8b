package dev.tandem.core.compute;

import dev.tandem.core.checkpoint.TensorView;

import java.lang.foreign.MemorySegment;

/**
 * Every operation the model math needs, on tensors that the backend owns. The CPU backend runs
 * each call to completion; a GPU backend may enqueue it and return at once, so results reach the
 * host only through {@link #copyToHost}, which waits for everything enqueued before it.
 * All row counts are the rows in use, at most the buffers' capacity.
 */
public interface ComputeBackend extends AutoCloseable {
    /** The checkpoint tensor as a weight; the CPU backend keeps it memory-mapped, without a copy. */
    DeviceWeight weight(TensorView tensor);

    /**
     * A seeded random bf16 weight {@code (rows, cols)} made where the backend computes: uniform on
     * ±{@code halfWidth}, or ones when {@code halfWidth} is 0 (a norm gain). For synthetic models.
     */
    DeviceWeight syntheticWeight(String name, int rows, int cols, float halfWidth, long seed);

    /**
     * The rows of {@code parts}, in order, as one weight (q, k and v; an expert's gate and up), so
     * that one GEMM does the work of several; the parts are released and stay usable as row slices
     * of the result (take them from it). Null where the backend keeps weights where they are
     * (the CPU, which computes on the mapped checkpoint): then use the parts as they are.
     */
    default DeviceWeight stackRows(DeviceWeight... parts) {
        return null;
    }

    Activations allocate(int rows, int cols);

    /**
     * Float32 rows in host memory the caller owns, such as a transport's send or receive buffer,
     * as activations. The CPU backend computes on them in place; a device backend reads and
     * writes them where they are, in the order of its other work: what the host wrote before an
     * operation is enqueued, the operation reads; what an operation writes, the host may read
     * after {@link #awaitWrites}.
     */
    Activations wrapHost(MemorySegment memory, int rows, int cols);

    /**
     * Returns once every operation enqueued so far has written what it writes (into
     * {@link #wrapHost} rows above all). The CPU backend computes on the caller's thread: nothing
     * to wait for.
     */
    default void awaitWrites() {
    }

    /**
     * Whether computing straight on {@link #wrapHost} rows costs more than copying them to
     * {@link #allocate}d rows first ({@link #copyRows}): a device, whose kernels would reach host
     * memory over the bus. The CPU computes on host rows as they are.
     */
    default boolean stagesHostRows() {
        return false;
    }

    /**
     * Copies for a transport that moves this backend's device rows straight between device memory
     * and its own buffers, on a stream of their own, for the calling thread; null where activations
     * live in host memory (the CPU computes on the transport's buffers in place).
     */
    default DeviceCopies openCopies() {
        return null;
    }

    /**
     * {@code pairs}' first rows = {@code src}'s first rows rounded to bf16 on the device, two
     * elements a float slot ({@code pairs} is (rows, cols / 2), contiguous): a bf16 wire's rows in
     * device memory, for {@link #openCopies}. Only a backend whose {@link #openCopies} is not null.
     */
    default void roundToBf16(Activations pairs, Activations src, int rows) {
        throw new UnsupportedOperationException("bf16 rows in device memory need a device backend");
    }

    /** {@code dst}'s first rows = {@code pairs}' bf16 rows (see {@link #roundToBf16}) widened exactly, on the device. */
    default void widenFromBf16(Activations dst, Activations pairs, int rows) {
        throw new UnsupportedOperationException("bf16 rows in device memory need a device backend");
    }

    /** {@code dst[r] = src[r]} for r in [0, rows), either side host-wrapped or the backend's own; in stream order. */
    void copyRows(Activations dst, Activations src, int rows);

    /**
     * {@code dst} (host memory: rows × cols bf16, row after row) = {@code src}'s first rows rounded
     * to nearest even, in stream order (read it after {@link #awaitWrites}): a bf16 wire straight
     * from a device, half the bytes over the bus and no pass over them on the host.
     */
    void copyRowsToBf16(MemorySegment dst, Activations src, int rows);

    /** {@code dst}'s first rows = {@code src} (host memory: rows × cols bf16, row after row) widened exactly, in stream order. */
    void copyRowsFromBf16(Activations dst, MemorySegment src, int rows);

    KvStorage allocateKv(int layers, int blocks, int blockSize, int kvHeads, int headDim);

    /** {@code out[i] = table[tokens[i]]}. */
    void embed(Activations out, DeviceWeight table, int[] tokens, int rows);

    /** {@code out = in · wᵀ}: in (rows, w.cols), out (rows, w.rows); the layout of nn.Linear. */
    void matmul(Activations out, Activations in, DeviceWeight w, int rows);

    /** {@code out = in · w}: in (rows, w.rows), out (rows, w.cols); DBRX stores its w2 this way. */
    void matmulTransposed(Activations out, Activations in, DeviceWeight w, int rows);

    /** {@code out = x / sqrt(mean(x²) + eps) · gain}, per row. */
    void rmsNorm(Activations out, Activations in, DeviceWeight gain, float eps, int rows);

    /** {@code out = (x − mean) / sqrt(var + eps) · gain}, per row, without bias. */
    void layerNorm(Activations out, Activations in, DeviceWeight gain, float eps, int rows);

    /** {@code x = clamp(x, −limit, limit)}. */
    void clamp(Activations x, float limit, int rows);

    /** Rotary embedding in Hugging Face's "rotate half" pairing, in place, on each head of x. */
    void rope(Activations x, int headDim, double theta, int[] positions, int rows);

    /** Stores row i of k and v into KV slot {@code slots[i]} of {@code layer}. */
    void writeKv(KvStorage kv, int layer, Activations k, Activations v, int[] slots, int rows);

    /**
     * Copies the keys and values of KV slots {@code slots[0..count)} of {@code layer} to the host,
     * after all pending work: row i of {@code keys} and {@code values}, each (count, kvHeads · headDim)
     * row-major float32, is slot {@code slots[i]}. Storage in a narrower type is widened exactly.
     * For checks and setup: the KV transfer copies with {@link #copyKvToHost}, in the cache's own type.
     */
    void readKv(KvStorage kv, int layer, int[] slots, int count, float[] keys, float[] values);

    /**
     * The inverse of {@link #readKv}: stores host rows i of {@code keys} and {@code values},
     * (count, kvHeads · headDim) float32, into KV slot {@code slots[i]} of {@code layer}. A token
     * machine fills its cache this way with what a prompt machine computed.
     */
    void writeKvRows(KvStorage kv, int layer, int[] slots, int count, float[] keys, float[] values);

    /**
     * Copies the keys, then the values, of KV slots {@code slots[from .. from + count)} of {@code layer}
     * into host memory at {@code dst[offset ..)}: {@code (2, count, rowWidth)} elements as the cache
     * holds them ({@link KvStorage#elementBytes}, no conversion), row i of each half being slot
     * {@code slots[from + i]}. The prompt machine writes a KV frame's rows this way, straight into the
     * frame. In stream order: read {@code dst} after {@link #awaitWrites}.
     */
    void copyKvToHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment dst, long offset);

    /**
     * The inverse of {@link #copyKvToHost}: {@code (2, count, rowWidth)} elements of the cache's own
     * type at {@code src[offset ..)}, keys first, into slots {@code slots[from .. from + count)} of
     * {@code layer}. The token machine writes a received KV frame's rows this way, straight from the
     * frame. {@code src} may be reused once the call returns.
     */
    void copyKvFromHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment src, long offset);

    /**
     * As {@link #copyKvToHost}, but into device rows: the {@code (2, count, rowWidth)} elements,
     * keys first, from the start of {@code dst}, which holds at least their bytes. The KV transfer
     * then DMAs them into its frames itself ({@link #openCopies}). In stream order. Only where
     * {@link #openCopies} is not null.
     */
    default void gatherKv(KvStorage kv, int layer, int[] slots, int from, int count, Activations dst) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " keeps its KV cache in host memory");
    }

    /** The inverse of {@link #gatherKv}: device rows {@code src} into the slots, in stream order. */
    default void scatterKv(KvStorage kv, int layer, int[] slots, int from, int count, Activations src) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " keeps its KV cache in host memory");
    }

    /**
     * Host memory that row copies will use again and again, such as a transport's send buffer: a
     * device backend page-locks all of it now, once, so that copies to and from any part of it run
     * at the bus's rate. It must stay mapped until the backend closes. The CPU has nothing to do.
     */
    default void registerHost(MemorySegment memory) {
    }

    /**
     * Causal grouped-query attention of each query row over its sequence's cached keys and
     * values, positions {@code max(0, pos − window + 1) .. pos} (window 0 = all).
     */
    void attention(Activations out, Activations q, KvStorage kv, int layer, TokenBatch batch, int headDim,
                   int window);

    /** {@code gate = silu(gate) · up}. */
    void siluMul(Activations gate, Activations up, int rows);

    /**
     * {@code gate = silu(gate) · up · gates[:, expert]}: one expert's SwiGLU with each row scaled
     * by its gate weight for that expert (0 where the row was not routed there).
     */
    void siluMulScaled(Activations gate, Activations up, Activations gates, int expert, int rows);

    /**
     * Routing where the logits are: {@code gates[r, e]} = the top-k of softmax(logits[r]), divided
     * by their p-norm ({@code normP}; 0 = not), and 0 for the experts not chosen; ties to the
     * lower index, as torch.topk does.
     */
    void routeDense(Activations gates, Activations logits, int topK, float normP, int rows);

    /**
     * Routes {@code rows} rows of gate logits where they are and brings each row's choices to the
     * host: {@code expert[r·k + j]} and {@code weight[r·k + j]} as {@link Router#route} gives them
     * (softmax, top-k largest first with ties to the lower index, divided by their p-norm). A device
     * backend does it in one launch and copies back only the choices, so the host, waiting with
     * the device idle, has nothing left to compute. False where the caller should route on the
     * host from the logits (the CPU).
     */
    default boolean routeToHost(Activations logits, int topK, float normP, int rows, int[] expert, float[] weight) {
        return false;
    }

    /**
     * {@code out = in · wᵀ} for one expert of a dense MoE layer: where {@code gates[r, expert]} is
     * 0 for every row r the backend may skip the product and leave {@code out} as it was (its
     * rows then feed only {@link #siluMulScaled}, which zeroes them). The CPU always computes.
     */
    default void matmulIfRouted(Activations out, Activations in, DeviceWeight w, int rows, Activations gates,
                                int expert) {
        matmul(out, in, w, rows);
    }

    /**
     * {@code acc += in · w} ({@code transposed}) or {@code in · wᵀ}, likewise skippable when no row
     * routes to {@code expert} (its contribution is then zero); {@code scratch} (rows, acc's
     * columns) holds the product on backends that cannot accumulate in place.
     */
    default void matmulAddIfRouted(Activations acc, Activations in, DeviceWeight w, boolean transposed, int rows,
                                   Activations gates, int expert, Activations scratch) {
        if (transposed) {
            matmulTransposed(scratch, in, w, rows);
        } else {
            matmul(scratch, in, w, rows);
        }
        add(acc, scratch, rows);
    }

    /**
     * Whether {@link #matmulIfRouted} and {@link #matmulAddIfRouted} skip the experts no row
     * routes to at this many rows: then a dense MoE layer reads only the experts its tokens use,
     * and stays on the device at any batch size.
     */
    default boolean skipsUnroutedExperts(int rows) {
        return false;
    }

    /**
     * A decode-sized MoE layer from routing on the device, in a few launches and no host round
     * trip: {@code out[r] = Σ_e gates[r, e] · down_e(silu(x·gate_eᵀ) ⊙ x·up_eᵀ)}, {@code gates}
     * as {@link #routeDense} leaves them ({@code topK} nonzero a row). Up to
     * {@link #routedExpertsMaxRows} rows with {@code rows · topK ≤ experts}, only the experts the
     * rows route to are read; larger batches, up to {@link #expertsFromGatesMaxRows}, run every
     * expert side by side. {@code gateUp[e]} is gate stacked over up, (2·ffn, hidden);
     * {@code down[e]} is (hidden, ffn).
     */
    default void expertsFromGates(Activations out, Activations x, Activations gates, int topK, DeviceWeight[] gateUp,
                                  DeviceWeight[] down, int rows) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no MoE from device gates");
    }

    /** Up to here (and rows · topK ≤ experts) {@link #expertsFromGates} reads only the routed experts; 0: never. */
    default int routedExpertsMaxRows() {
        return 0;
    }

    /** Up to here {@link #expertsFromGates} runs every expert side by side; 0: never. */
    default int expertsFromGatesMaxRows() {
        return 0;
    }

    /**
     * The most tokens for which a colocated MoE layer should run every expert over every token,
     * weighted by {@link #routeDense}, instead of routing on the host and gathering each expert's
     * tokens: a device backend avoids a host round trip a layer and reads each expert once either
     * way. 0: never (the CPU).
     */
    default int denseMoeMaxRows() {
        return 0;
    }

    /** {@code acc += x}. */
    void add(Activations acc, Activations x, int rows);

    /** {@code out[i] = in[rowIndex[i]]}. */
    void gatherRows(Activations out, Activations in, int[] rowIndex, int rows);

    /**
     * Group g's rows {@code [offsets[g], offsets[g + 1])} of {@code in} times {@code weights[g]}
     * into the same rows of {@code out}: {@link #matmul} (or, {@code transposed}, {@link
     * #matmulTransposed}) per group, which a device backend runs as one grouped GEMM. The MoE's
     * experts over tokens sorted by expert.
     */
    default void matmulGroups(Activations out, Activations in, DeviceWeight[] weights, int[] offsets, int groups,
                              boolean transposed) {
        for (int g = 0; g < groups; g++) {
            int rows = offsets[g + 1] - offsets[g];
            if (rows == 0) {
                continue;
            }
            Activations o = out.rows(offsets[g], rows);
            Activations i = in.rows(offsets[g], rows);
            if (transposed) {
                matmulTransposed(o, i, weights[g], rows);
            } else {
                matmul(o, i, weights[g], rows);
            }
        }
    }

    /**
     * The experts' SwiGLU over rows sorted by expert: for group g's rows {@code [offsets[g],
     * offsets[g + 1])}, {@code out = down_g(silu(x · gate_gᵀ) ⊙ (x · up_gᵀ))} with gate and up
     * stacked in {@code gateUps[g]} and {@code downs[g]} transposed or not ({@code
     * downTransposed}). {@code gateUp} (rows, 2·ffn) is the caller's scratch, left as the backend
     * likes; a device backend may hold its intermediates there in bf16 (as torch's bf16 experts
     * round them) rather than float32. Here: two {@link #matmulGroups} around {@link #siluMul}.
     */
    default void expertGroups(Activations out, Activations in, Activations gateUp, DeviceWeight[] gateUps,
                              DeviceWeight[] downs, int[] offsets, int groups, boolean downTransposed) {
        int ffn = gateUp.cols() / 2;
        int rows = offsets[groups] - offsets[0];
        Activations gate = gateUp.columns(0, ffn);
        matmulGroups(gateUp, in, gateUps, offsets, groups, false);
        siluMul(gate.rows(offsets[0], rows), gateUp.columns(ffn, ffn).rows(offsets[0], rows), rows);
        matmulGroups(out, gate, downs, offsets, groups, downTransposed);
    }

    /**
     * {@code acc[targets[t]] += Σ_{q ∈ [start[t], start[t + 1])} weight[q] · in[source[q]]}, the
     * sum in q's order, for t in [0, count): each target row's share of every expert at once, in a
     * fixed order (no atomics), so that results do not depend on scheduling.
     */
    void combineRows(Activations acc, Activations in, int[] targets, int[] start, int[] source, float[] weight,
                     int count);

    /** {@code acc[rowIndex[i]] += scale[i] · in[i]}. */
    void scatterAddScaled(Activations acc, Activations in, int[] rowIndex, float[] scale, int rows);

    void zero(Activations x, int rows);

    /**
     * {@code out[r]} = a token sampled from row r of the logits, after all pending work, as
     * {@link dev.tandem.core.sampling.Sampler} samples: {@code temperature[r]} 0 is the argmax
     * (the first on ties, as torch.argmax), else softmax(logits / T) cut by {@code minP[r]},
     * {@code topK[r]} and {@code topP[r]}, at the draw {@code uniform[r]} ∈ [0, 1). Only the token
     * ids reach the host.
     */
    void sampleRows(Activations logits, int rows, float[] temperature, float[] topP, int[] topK, float[] minP,
                    float[] uniform, int[] out);

    /** Copies the first {@code rows} rows into {@code dst} (row-major), after all pending work. */
    void copyToHost(Activations src, int rows, float[] dst);

    /** Bytes one token's keys and values take over all layers, in the type this backend caches them. */
    default long kvBytesPerToken(int layers, int kvHeads, int headDim) {
        return 2L * layers * kvHeads * headDim * Float.BYTES;
    }

    /**
     * The bytes a KV cache may take so that this process stays within {@code utilization} of the
     * device's memory (vLLM's {@code gpu_memory_utilization}), given what it holds now; -1 where
     * the cache is sized by the caller (the CPU).
     */
    default long kvMemoryBudget(double utilization) {
        return -1;
    }

    /**
     * Called once a model's or an expert bank's weights are all loaded: a device backend waits
     * for the uploads and reports them. The CPU backend has nothing to do.
     */
    default void weightsLoaded() {
    }

    /**
     * Runs one forward step's work. {@code graphKey ≥ 0} promises that the step reads nothing back
     * before its end except one final result (sampled ids or logits), and names its shape (steps
     * of one key usually enqueue the same work): a device backend may then record the step once
     * and replay it (CUDA graphs) instead of launching each operation. {@code step} may be run
     * more than once, and must then compute the same. The CPU backend just runs it.
     */
    default void runStep(int graphKey, Runnable step) {
        step.run();
    }

    @Override
    void close();
}
