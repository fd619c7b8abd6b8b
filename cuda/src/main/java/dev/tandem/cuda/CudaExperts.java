package dev.tandem.cuda;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.cuda.bind.CudaException;
import dev.tandem.cuda.bind.Cublas;

import java.lang.foreign.MemorySegment;

import static dev.tandem.cuda.CudaBackend.DENSE_MOE_MAX_ROWS;
import static dev.tandem.cuda.CudaBackend.GEMV_COLS;
import static dev.tandem.cuda.CudaBackend.GEMV_WARPS;
import static dev.tandem.cuda.CudaBackend.ROUTED_MAX_ROWS;

/**
 * A decode-sized MoE layer from routing on the device ({@link CudaBackend#expertsFromGates}): the
 * routed-expert GEMV for a few rows, the experts side by side in batched GEMMs for more.
 */
final class CudaExperts {
    private final CudaBackend b;

    // gate|up of the batched experts rounded to bf16 (as torch's bf16 experts have it), not float32:
    // at 128 rows that is 58 MB a layer less to write and read back; -Dtandem.cuda.gateUpBf16=false for A/B runs
    private static final boolean GATE_UP_BF16 = !"false".equals(System.getProperty("tandem.cuda.gateUpBf16"));
    // -Dtandem.cuda.expertGroups=float32 runs a prompt's experts with float32 gate|up and SiLU, the path
    // before bf16 intermediates, for A/B runs. (gate|up of all experts in one cublasGemmGroupedBatchedEx,
    // bf16 out, was measured 3x slower on the H200 than one cublasGemmEx an expert: 4.9 ms a layer.)
    private static final boolean GROUPS_BF16 = !"float32".equals(System.getProperty("tandem.cuda.expertGroups"));

    private long[] expertPointers = new long[0];

    CudaExperts(CudaBackend backend) {
        this.b = backend;
    }


    /**
     * A few rows ({@code rows · topK ≤ experts}): four launches a layer, gate|up of every (row,
     * slot) pair through its expert (gemv_routed_bf16, the expert found in the gates on the
     * device), SiLU·up in place, down likewise, and the gate-weighted sum of each row's pairs
     * (combine_routed). More rows: every expert side by side, one batched GEMM a projection.
     */
    void run(Activations out, Activations x, Activations gates, int topK, DeviceWeight[] gateUp, DeviceWeight[] down,
             int rows) {
        if (rows == 0) {
            return;
        }
        CudaActivations o = CudaBackend.cuda(out);
        CudaActivations in = CudaBackend.cuda(x);
        CudaActivations g = CudaBackend.cuda(gates);
        if (rows > ROUTED_MAX_ROWS || rows * topK > gateUp.length) {
            batchedExperts(o, in, g, gateUp, down, rows);
        } else {
            routedExperts(o, in, g, topK, gateUp, down, rows);
        }
    }

    private void routedExperts(CudaActivations o, CudaActivations in, CudaActivations g, int topK,
                               DeviceWeight[] gateUp, DeviceWeight[] down, int rows) {
        int experts = gateUp.length;
        CudaWeight first = (CudaWeight) gateUp[0];
        int hidden = first.cols();
        int ffn = first.rows() / 2;
        if (!first.bf16() || hidden % 8 != 0 || ffn % 8 != 0 || in.stride() % 4 != 0
                || in.pointer() % 16 != 0 || o.cols() != hidden || g.cols() != experts) {
            throw new IllegalArgumentException("routed experts: " + rows + " rows, hidden " + hidden + ", ffn " + ffn
                    + (first.bf16() ? "" : ", float32 weights") + "; the kernel takes up to " + ROUTED_MAX_ROWS
                    + " rows of bf16 weights with 8-aligned widths");
        }
        if (expertPointers.length < 2 * experts) {
            expertPointers = new long[2 * experts];
        }
        for (int e = 0; e < experts; e++) {
            expertPointers[e] = ((CudaWeight) gateUp[e]).pointer();
            expertPointers[experts + e] = ((CudaWeight) down[e]).pointer();
        }
        long pointers = b.hostArgs.longs(expertPointers, 2 * experts);
        int pairs = rows * topK;
        long gu = b.scratch(4L * pairs * (2L * ffn + hidden)); // (pairs, 2·ffn) gate | up, then (pairs, hidden)
        long y = gu + 4L * pairs * 2 * ffn;
        b.written(o, rows);
        launchRoutedGemv(gu, 2 * ffn, in.pointer(), in.stride(), false, pointers, 2 * ffn, hidden, g, experts, topK,
                pairs);
        b.args.reset().p(gu).i(2 * ffn).p(gu + 4L * ffn).i(2 * ffn).i(ffn).p(0);
        b.launchRows(b.k.siluMul(), pairs, ffn, "silu_mul (routed pairs)");
        launchRoutedGemv(y, hidden, gu, 2 * ffn, true, pointers + 8L * experts, hidden, ffn, g, experts, topK, pairs);
        b.args.reset().p(o.pointer()).i(o.stride()).p(y).i(hidden).p(g.pointer()).i(g.stride()).i(experts).i(topK)
                .i(hidden);
        b.launchRows(b.k.combineRouted(), rows, hidden, "combine_routed");
    }

    private void launchRoutedGemv(long out, int outStride, long in, int inStride, boolean inPerPair, long weights,
                                  int n, int kDim, CudaActivations gates, int experts, int topK, int pairs) {
        b.args.reset().p(out).i(outStride).p(in).i(inStride).i(inPerPair ? 1 : 0).p(weights).i(n).i(kDim)
                .p(gates.pointer()).i(gates.stride()).i(experts).i(topK);
        int columnsPerBlock = GEMV_WARPS * GEMV_COLS;
        b.beginOp();
        b.ops.launch(b.k.gemvRouted(), (n + columnsPerBlock - 1) / columnsPerBlock, pairs, 1, 32 * GEMV_WARPS, 0,
                "gemv_routed");
        b.endOp("gemv_routed " + n + "x" + kDim);
    }

    /**
     * Every expert over every row: gate|up of all experts in one batched GEMM (bf16 in, bf16
     * out, float32 accumulation), SiLU·up·gate weight of all of them in one launch (bf16, the down GEMM's input), down in
     * one batched GEMM, and the sum over experts in order. The 8 (or more) experts' GEMMs side by
     * side fill the device better than one after another at these sizes.
     */
    private void batchedExperts(CudaActivations o, CudaActivations in, CudaActivations g, DeviceWeight[] gateUp,
                                DeviceWeight[] down, int rows) {
        int experts = gateUp.length;
        CudaWeight first = (CudaWeight) gateUp[0];
        int hidden = first.cols();
        int ffn = first.rows() / 2;
        if (!b.batchedGemm || rows > DENSE_MOE_MAX_ROWS || !first.bf16() || o.cols() != hidden || g.cols() != experts) {
            throw new IllegalArgumentException("experts from gates: " + rows + " rows of " + experts + " experts"
                    + (b.batchedGemm ? "" : "; this cuBLAS runs no batched bf16 GEMM with float32 output"));
        }
        long xb = b.bf16Input(in, rows, hidden);
        int guType = GATE_UP_BF16 ? Cublas.CUDA_R_16BF : Cublas.CUDA_R_32F;
        long guBytes = (GATE_UP_BF16 ? 2L : 4L) * experts * rows * 2 * ffn;
        long hBytes = 2L * experts * rows * ffn;
        long gu = b.scratch(guBytes + hBytes + 4L * experts * rows * hidden);
        long h = gu + guBytes;
        long y = h + hBytes;
        if (expertPointers.length < 6 * experts) {
            expertPointers = new long[6 * experts];
        }
        for (int e = 0; e < experts; e++) {
            expertPointers[e] = ((CudaWeight) gateUp[e]).pointer();
            expertPointers[experts + e] = xb;
            expertPointers[2 * experts + e] = gu + guBytes / experts * e;
            expertPointers[3 * experts + e] = ((CudaWeight) down[e]).pointer();
            expertPointers[4 * experts + e] = h + 2L * e * rows * ffn;
            expertPointers[5 * experts + e] = y + 4L * e * rows * hidden;
        }
        long p = b.hostArgs.longs(expertPointers, 6 * experts);
        long slot = 8L * experts;
        b.written(o, rows);
        b.beginOp();
        check(b.ops.gemmBatched(b.blas, Cublas.OP_T, Cublas.OP_N, 2 * ffn, rows, hidden, b.one, p,
                Cublas.CUDA_R_16BF, hidden, p + slot, Cublas.CUDA_R_16BF, hidden, b.zero, p + 2 * slot,
                guType, 2 * ffn, experts));
        b.endOp("batched gemm " + 2 * ffn + "x" + hidden + " (" + experts + " experts)");
        b.args.reset().p(h).p(gu).p(g.pointer()).i(g.stride()).i(rows).i(ffn);
        // a block for every 2048 columns of each (expert, row): most pairs only write zeros and finish at
        // once, so the routed ones need blocks of their own to spread over the device
        b.beginOp();
        b.ops.launch(GATE_UP_BF16 ? b.k.siluMulExpertsBf16() : b.k.siluMulExperts(), experts * rows,
                Math.min((ffn + 2047) / 2048, 65_535), 1, 256, 0, "silu_mul_experts");
        b.endOp("silu_mul_experts");
        b.beginOp();
        check(b.ops.gemmBatched(b.blas, Cublas.OP_T, Cublas.OP_N, hidden, rows, ffn, b.one, p + 3 * slot,
                Cublas.CUDA_R_16BF, ffn, p + 4 * slot, Cublas.CUDA_R_16BF, ffn, b.zero, p + 5 * slot, Cublas.CUDA_R_32F,
                hidden, experts));
        b.endOp("batched gemm " + hidden + "x" + ffn + " (" + experts + " experts)");
        b.args.reset().p(o.pointer()).i(o.stride()).p(y).i(rows).i(experts).i(hidden);
        b.launchRows(b.k.sumExperts(), rows, hidden, "sum_experts");
    }

    private static void check(int cublasStatus) {
        if (cublasStatus != 0) {
            throw new CudaException("cublasGemmBatchedEx failed: cublasStatus " + cublasStatus, cublasStatus);
        }
    }

    /** Whether cuBLAS runs a two-matrix batched GEMM of bf16 inputs with float32 output. */
    boolean probeBatchedGemm() {
        return b.probe((a, c, size) -> {
            long p = b.hostArgs.longs(new long[]{a, a, a, a, c, c + 4L * size * size}, 6);
            return b.cublas.gemmBatched(b.blas, Cublas.OP_T, Cublas.OP_N, size, size, size, b.one, p,
                    Cublas.CUDA_R_16BF, size, p + 16, Cublas.CUDA_R_16BF, size, b.zero, p + 32, Cublas.CUDA_R_32F,
                    size, 2);
        });
    }

    /** What {@link #groups} runs, for the start-up log. */
    static String groupsDescription() {
        return GROUPS_BF16 ? "one GEMM an expert a projection, bf16 gate|up and SiLU, the experts on "
                + CudaBackend.EXPERT_LANES + " streams"
                : "one cublasGemmEx an expert a projection, float32 gate|up (-Dtandem.cuda.expertGroups=float32)";
    }

    /**
     * A prompt-sized batch's experts over rows sorted by expert (see {@code
     * ComputeBackend.expertGroups}), with bf16 weights: the rows rounded to bf16 once, gate|up into
     * {@code scratch} as bf16 (torch's bf16 experts round it there too; half the bytes of float32
     * to write and read back), SiLU·up into bf16 beside it (the down GEMM's input, no cast of its
     * own), down into float32 {@code out}. The bf16 rows take 6·ffn bytes of the 8·ffn that
     * scratch holds a row as float32. False where it does not apply (float32 weights, the float32
     * mode): the caller runs the float32 path.
     */
    boolean groups(CudaActivations out, CudaActivations in, CudaActivations scratch, DeviceWeight[] gateUps,
                   DeviceWeight[] downs, int[] offsets, int groups, boolean downTransposed) {
        CudaWeight first = (CudaWeight) gateUps[0];
        int hidden = first.cols();
        int ffn = first.rows() / 2;
        if (!GROUPS_BF16 || !first.bf16() || ffn % 2 != 0 || in.cols() != hidden
                || out.cols() != hidden || scratch.cols() != 2 * ffn || in.hostMapped() || scratch.hostMapped()) {
            return false;
        }
        int start = offsets[0];
        int total = offsets[groups] - start;
        long xb = b.bf16Input(start == 0 ? in : (CudaActivations) in.rows(start, total), total, hidden);
        long gu = scratch.pointer() + 4L * start * scratch.stride(); // (total, 2·ffn) bf16
        long h = gu + 4L * total * ffn;                               // (total, ffn) bf16
        b.written(gu, 6L * total * ffn);
        b.written(out.pointer() + 4L * start * out.stride(), 4L * ((long) (total - 1) * out.stride() + hidden));
        ExpertLanes lanes = b.expertLanes();
        if (lanes != null) {
            lanes.fork();
        }
        int lane = 0;
        for (int g = 0; g < groups; g++) {
            int rows = offsets[g + 1] - offsets[g];
            if (rows == 0) {
                continue;
            }
            int row = offsets[g] - start;
            MemorySegment laneStream = lanes == null ? null : lanes.stream(lane);
            CudaWeight up = (CudaWeight) gateUps[g];
            b.beginOp();
            expertGemm(lanes, lane, Cublas.OP_T, 2 * ffn, rows, hidden, up, xb + 2L * row * hidden, hidden,
                    gu + 4L * row * ffn, Cublas.CUDA_R_16BF, 2 * ffn);
            b.endOp("gemm gate|up (expert rows, bf16 out)");
            b.args.reset().p(h + 2L * row * ffn).p(gu + 4L * row * ffn).i(ffn);
            launchSiluPairs(laneStream, rows, ffn);
            CudaWeight down = (CudaWeight) downs[g];
            b.beginOp();
            expertGemm(lanes, lane, downTransposed ? Cublas.OP_N : Cublas.OP_T, hidden, rows, ffn, down,
                    h + 2L * row * ffn, ffn, out.pointer() + 4L * offsets[g] * out.stride(), Cublas.CUDA_R_32F,
                    out.stride());
            b.endOp("gemm down (expert rows)");
            if (lanes != null) {
                lane = (lane + 1) % lanes.count();
            }
        }
        if (lanes != null) {
            lanes.join();
        }
        return true;
    }

    /**
     * silu_mul_pairs_bf16 with the arguments set, eight columns a thread where ffn allows (16-byte
     * rows: the gate|up and SiLU buffers start aligned), on a lane's stream or (null) the main one.
     */
    private void launchSiluPairs(MemorySegment laneStream, int rows, int ffn) {
        boolean eight = ffn % 8 == 0;
        MemorySegment kernel = eight ? b.k.siluMulPairsBf16x8() : b.k.siluMulPairsBf16();
        int columns = eight ? ffn / 8 : ffn / 2;
        if (laneStream == null) {
            b.launchRows(kernel, rows, columns, "silu_mul_pairs_bf16");
        } else {
            b.launchRowsOn(laneStream, kernel, rows, columns, "silu_mul_pairs_bf16");
        }
    }

    /**
     * One expert GEMM, bf16 weights times bf16 rows ({@code n} columns here, column-major), on
     * {@code lane} of {@code lanes}, or the main stream where lanes is null. (cuBLASLt with the
     * fastest of its heuristic's candidates timed once a 64-row bucket lost to cublasGemmEx's own
     * pick on the H200, 19056 against 20172 prefill tokens/s at 2048: bench/GPU_NOTES.md, session 8.)
     */
    private void expertGemm(ExpertLanes lanes, int lane, int transA, int m, int n, int k, CudaWeight w, long x,
                            int ldx, long c, int cType, int ldc) {
        if (lanes == null) {
            b.ops.gemm(b.blas, transA, Cublas.OP_N, m, n, k, b.one, w.pointer(), Cublas.CUDA_R_16BF, w.cols(), x,
                    Cublas.CUDA_R_16BF, ldx, b.zero, c, cType, ldc);
        } else {
            b.cublas.gemm(lanes.handle(lane), transA, Cublas.OP_N, m, n, k, b.one, w.pointer(), Cublas.CUDA_R_16BF,
                    w.cols(), x, Cublas.CUDA_R_16BF, ldx, b.zero, c, cType, ldc);
        }
    }
}
