package dev.tandem.cuda;

import dev.tandem.core.TandemException;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.CudaException;
import dev.tandem.cuda.bind.Cublas;
import dev.tandem.cuda.bind.CudaGraphs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The CUDA backend: weights, activations and the paged KV cache in device memory; matrix
 * products through cuBLAS, everything else through NVRTC-compiled kernels ({@code kernels.cu}),
 * all enqueued on one stream. Only {@link #copyToHost} and {@link #readKv} wait for the device.
 *
 * <p>Activations are float32 in both modes. In float32 mode weights and KV are float32 and the
 * GEMMs run in float32 (no TF32): exact to the fixtures. In bfloat16 mode weights and KV are
 * bf16; a GEMM's input rows are rounded to bf16 on their way in and it accumulates in float32.
 * One caller at a time; the device's context is made current on whichever thread calls.
 */
public final class CudaBackend implements ComputeBackend {
    private static final String KERNELS = "/dev/tandem/cuda/kernels.cu";
    private static final int ROW_THREADS = 256;
    private static final int NORM_THREADS = 512;
    static final int DECODE_WARPS = 8;         // DECODE_WARPS in kernels.cu
    static final int DECODE_THREADS = 32 * DECODE_WARPS;
    static final int MAX_GROUP = 8;            // MAX_GROUP: query heads a decode block serves
    static final int DECODE_GROUP_SIZES = 4;   // decode kernels for 1, 2, 4 and 8 of them
    static final int DECODE_SPLIT_POSITIONS = 16; // positions a split of a decode window takes at least
    static final int MAX_DECODE_SPLITS = 64;
    static final int PREFILL_THREADS = 256;
    static final int TILE_Q = 64;              // TILE_Q in kernels.cu
    static final int PREFILL_HEAD_DIM = 128;   // PREFILL_HEAD_DIM
    private static final int TILE_K = 32;              // TILE_K
    static final int PREFILL_SHARED_BYTES = 4 * (PREFILL_HEAD_DIM * (TILE_Q + 4) // queries transposed
            + PREFILL_HEAD_DIM * (TILE_K + 4) + TILE_K * PREFILL_HEAD_DIM + TILE_K * (TILE_Q + 4));
    // Head dimensions with a tensor-core prefill kernel (attention_prefill_mma_*) for a bf16 cache;
    // -Dtandem.cuda.prefillMma=false keeps the float32 FMA kernel, for A/B runs. The parts (bf16 terms)
    // queries and probabilities are split into: see PREFILL_MMA_PARTS below and kernels.cu.
    static final int[] MMA_HEAD_DIMS = {16, 32, 64, 128};
    static final int MMA_THREADS = 128;        // 32 · MMA_WARPS
    private static final int MMA_TILE_K = 64;  // MMA_TILE_K

    /** Dynamic shared memory of attention_prefill_mma_{headDim}: two stages of a key and a value tile, bf16. */
    static int mmaSharedBytes(int headDim) {
        return 2 * 2 * MMA_TILE_K * (headDim + 8) * 2;
    }
    static final boolean PREFILL_MMA = !"false".equals(System.getProperty("tandem.cuda.prefillMma"));
    // queries split in two bf16 parts, probabilities rounded once (FlashAttention's bf16 P·V): session 7's
    // run 2 passed the fixtures with 21 and with 11; 21 keeps the scores, which the softmax exponentiates, exact
    private static final String PREFILL_MMA_PARTS = System.getProperty("tandem.cuda.prefillMmaParts", "21");
    static final int MIN_TILE_ROWS = 8;        // shorter runs of a sequence's rows go to the decode kernel
    private static final int MAX_HEAD_DIM = 256;      // MAX_HEAD_DIM in kernels.cu
    private static final int MAX_EXPERTS = 64;        // MAX_EXPERTS in kernels.cu
    private static final int MAX_GROUPS = 256;        // groups of one grouped GEMM
    private static final int SAMPLE_THREADS = 1024;   // SAMPLE_THREADS in kernels.cu
    private static final int GEMV_MAX_ROWS = 2;       // the widest gemv_bf16_* kernel
    // -Dtandem.cuda.skipUnrouted=true keeps batches of 1-2 tokens on the device through the GEMV,
    // skipping unrouted experts; measured slower on the H200 than routing them on the host (75
    // against 87 tokens/s at batch 1: a skipped launch still costs ~3 us, and the GEMV reached
    // about the bandwidth cuBLAS does), so off by default.
    private static final boolean SKIP_UNROUTED = Boolean.getBoolean("tandem.cuda.skipUnrouted");
    // -Dtandem.cuda.gemv=false sends 1-2 row products without gates to cuBLAS, for A/B runs
    private static final boolean GEMV = !"false".equals(System.getProperty("tandem.cuda.gemv"));
    static final int GEMV_WARPS = 8;          // GEMV_WARPS in kernels.cu
    static final int GEMV_COLS = 4;           // GEMV_COLS: output columns a warp
    // expertsFromGates reads only the routed experts up to this many rows (and rows · k ≤ experts);
    // -Dtandem.cuda.routedMaxRows=0 routes small batches on the host instead, for A/B runs.
    static final int ROUTED_MAX_ROWS = Integer.getInteger("tandem.cuda.routedMaxRows", 8);
    // -Dtandem.cuda.batchedExperts=false runs a decode batch's experts one after another, for A/B runs
    private static final boolean BATCHED_EXPERTS = !"false".equals(System.getProperty("tandem.cuda.batchedExperts"));
    private static final int GROUP_FIELDS = 11;       // per group: opA, opB, m, n, k, lda, ldb, ldc, alpha, beta, size
    // Up to here a bf16 GEMM over all of a layer's tokens stays memory-bound on an H200 (about 200
    // FLOP a byte), so running every expert over every token costs no more time than routing.
    static final int DENSE_MOE_MAX_ROWS = Integer.getInteger("tandem.cuda.denseMoeMaxRows", 128);
    // -Dtandem.cuda.splitK=false leaves every bf16 GEMM of a decode batch to cuBLAS whole, for A/B runs
    private static final boolean SPLIT_K = !"false".equals(System.getProperty("tandem.cuda.splitK"));
    private static final int MAX_SPLIT_K = 8;
    // -Dtandem.cuda.graphs=false runs every decode step live, for A/B runs (StepGraphs)
    private static final boolean GRAPHS = !"false".equals(System.getProperty("tandem.cuda.graphs"));
    private static final long ARG_BYTES = 16L << 20;
    private static final long CUBLAS_WORKSPACE = 32L << 20;
    private static final long KV_RESERVE = 1L << 30;

    private final CudaDevice device;
    final CudaDriver driver;
    final Cublas cublas;
    private final boolean bf16;
    private final Consumer<String> log;
    private final Arena arena = Arena.ofShared();
    final MemorySegment stream;
    final MemorySegment blas;
    final KernelArgs args;
    final StreamOps ops;
    final HostArgs hostArgs;
    private final WeightUploader uploader;
    final MemorySegment one;
    final MemorySegment zero;
    final Kernels k;
    private final Map<Long, Long> allocations = new HashMap<>(); // device pointer → bytes, all this backend holds
    private long heldBytes;                                         // their sum
    private final long shareBytes; // --gpu-memory-utilization of the device's memory, the most this process holds; 0: no share
    private final Map<Long, Long> inverseFrequencies = new HashMap<>(); // (theta bits ^ headDim) → device floats
    private final List<MemorySegment> registered = new ArrayList<>();
    private final java.util.List<CudaDeviceCopies> deviceCopies = new java.util.ArrayList<>(); // closed with the backend
    private final java.util.Map<Long, Boolean> pinnedHost = new java.util.HashMap<>(); // address → page-locked
    private long scratch;         // device, for bf16 GEMM inputs and packed rows
    private long scratchBytes;
    private MemorySegment hostOut = MemorySegment.NULL; // page-locked, for results on their way back
    private long weightBytes;
    private final Bf16Copies copies = new Bf16Copies();
    private final KernelProfiler profiler; // null unless -Dtandem.cuda.profile=true
    private final StepGraphs graphs;        // null when off or profiling
    private boolean graphsOn = true;
    private int[] deferredIds;              // a graph step's result, copied out once the graph has run
    private float[] deferredValues;
    private int deferredCount;
    private final MemorySegment groupHost;  // the host arrays of a grouped GEMM
    private final boolean groupedGemm;      // cuBLAS takes our grouped GEMM's type mix
    final boolean batchedGemm;
    private final CudaExperts experts;
    private final CudaAttention attention;      // …and a batched bf16 GEMM with float32 output (expertsFromGates)
    private final CudaKvHostRows kvHostRows;    // the KV transfer's rows to and from the host
    private final long[] groupPointers = new long[3 * MAX_GROUPS]; // A, B, C pointers, MAX_GROUPS apart
    private final long[] packedPointers = new long[3 * MAX_GROUPS];
    private final long[] splitPointers = new long[3 * MAX_SPLIT_K];

    private final int rowTargetBlocks;     // four blocks per multiprocessor
    private Thread boundThread;
    private boolean closed;

    /** The kernels by name, looked up once. */
    record Kernels(MemorySegment convertBf16ToF32, MemorySegment convertF16ToF32, MemorySegment convertF32ToBf16,
                           MemorySegment convertF16ToBf16, MemorySegment rowsToBf16, MemorySegment packRows,
                           MemorySegment fillSynthetic, MemorySegment embedF32, MemorySegment embedBf16,
                           MemorySegment rmsNormF32, MemorySegment rmsNormBf16, MemorySegment layerNormF32,
                           MemorySegment layerNormBf16, MemorySegment clamp, MemorySegment rope, MemorySegment siluMul,
                           MemorySegment add, MemorySegment zero, MemorySegment gather, MemorySegment scatterAddScaled,
                           MemorySegment writeKvF32, MemorySegment writeKvBf16, MemorySegment storeKvF32,
                           MemorySegment storeKvBf16, MemorySegment loadKvF32, MemorySegment loadKvBf16,
                           MemorySegment[] decodeF32, MemorySegment[] decodeBf16, MemorySegment[] decodeF32Narrow,
                           MemorySegment[] decodeBf16Narrow, MemorySegment prefillF32,
                           MemorySegment prefillBf16, MemorySegment siluMulScaled,
                           MemorySegment routeDense, MemorySegment combineRows, MemorySegment sampleRows,
                           MemorySegment gemv1, MemorySegment gemv2, MemorySegment gemv1SplitK,
                           MemorySegment gemv2SplitK, MemorySegment[] prefillMma,
                           MemorySegment gemvRouted, MemorySegment combineRouted, MemorySegment decodeMerge,
                           MemorySegment siluMulExperts, MemorySegment siluMulExpertsBf16, MemorySegment sumExperts,
                           MemorySegment siluMulPairsBf16, MemorySegment gather4, MemorySegment combineRows4,
                           MemorySegment add4, MemorySegment rmsNormBf16x4, MemorySegment siluMulPairsBf16x8) {
        static Kernels of(KernelModule m) {
            MemorySegment[] mma = new MemorySegment[MMA_HEAD_DIMS.length];
            for (int i = 0; i < mma.length; i++) {
                mma[i] = m.function("attention_prefill_mma_" + MMA_HEAD_DIMS[i] + "_" + PREFILL_MMA_PARTS);
            }
            return new Kernels(m.function("convert_bf16_to_f32"), m.function("convert_f16_to_f32"),
                    m.function("convert_f32_to_bf16"), m.function("convert_f16_to_bf16"), m.function("rows_to_bf16"),
                    m.function("pack_rows"), m.function("fill_synthetic_bf16"), m.function("embed_f32"),
                    m.function("embed_bf16"), m.function("rms_norm_f32"), m.function("rms_norm_bf16"),
                    m.function("layer_norm_f32"), m.function("layer_norm_bf16"), m.function("clamp_rows"),
                    m.function("rope_rows"), m.function("silu_mul"), m.function("add_rows"), m.function("zero_rows"),
                    m.function("gather_rows"), m.function("scatter_add_scaled"), m.function("write_kv_f32"),
                    m.function("write_kv_bf16"), m.function("store_kv_rows_f32"), m.function("store_kv_rows_bf16"),
                    m.function("load_kv_rows_f32"), m.function("load_kv_rows_bf16"), decodeGroups(m, "attention_decode_f32"),
                    decodeGroups(m, "attention_decode_bf16"), decodeGroups(m, "attention_decode_f32_128"),
                    decodeGroups(m, "attention_decode_bf16_128"), m.function("attention_prefill_f32"),
                    m.function("attention_prefill_bf16"), m.function("silu_mul_scaled"), m.function("route_dense"),
                    m.function("combine_rows"), m.function("sample_rows"), m.function("gemv_bf16_1"),
                    m.function("gemv_bf16_2"), m.function("gemv_bf16_1_splitk"), m.function("gemv_bf16_2_splitk"), mma,
                    m.function("gemv_routed_bf16"), m.function("combine_routed"),
                    m.function("attention_decode_merge"), m.function("silu_mul_experts"),
                    m.function("silu_mul_experts_bf16"), m.function("sum_experts"), m.function("silu_mul_pairs_bf16"),
                    m.function("gather_rows4"), m.function("combine_rows4"), m.function("add_rows4"),
                    m.function("rms_norm_bf16_4"), m.function("silu_mul_pairs_bf16_8"));
        }

        /** A decode kernel for blocks of 1, 2, 4 and 8 query heads ({@code _g1} … {@code _g8}). */
        private static MemorySegment[] decodeGroups(KernelModule m, String name) {
            MemorySegment[] kernels = new MemorySegment[DECODE_GROUP_SIZES];
            for (int i = 0; i < kernels.length; i++) {
                kernels[i] = m.function(name + "_g" + (1 << i));
            }
            return kernels;
        }
    }

    /** A backend on {@code device}, which it owns; bf16 or float32 weights and KV. */
    public CudaBackend(CudaDevice device, boolean bf16, Consumer<String> log) {
        this(device, bf16, 0, log);
    }

    /**
     * The same, holding at most {@code memoryShare} of the device's memory (0: no share): a node
     * process that shares its GPU with others stays within its part, and what does not fit fails
     * at start-up naming the share.
     */
    public CudaBackend(CudaDevice device, boolean bf16, double memoryShare, Consumer<String> log) {
        this.device = device;
        this.driver = device.driver;
        this.bf16 = bf16;
        this.log = log;
        try {
            device.makeCurrent();
            boundThread = Thread.currentThread();
            this.shareBytes = (long) (memoryShare * driver.memoryInfo()[1]);
            this.cublas = Cublas.get();
            this.stream = driver.createStream();
            long workspace = track(driver.malloc(CUBLAS_WORKSPACE), CUBLAS_WORKSPACE);
            this.blas = cublas.create(stream, workspace, CUBLAS_WORKSPACE);
            this.args = new KernelArgs(arena);
            this.ops = new StreamOps(driver, cublas, stream, args);
            this.hostArgs = new HostArgs(driver, ops, ARG_BYTES, this::drain);
            this.uploader = new WeightUploader(driver, stream, log);
            this.one = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
            this.zero = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
            KernelModule module = KernelModule.load(driver, KERNELS, device.computeMajor(), device.computeMinor(), log);
            this.k = Kernels.of(module);
            this.kvHostRows = new CudaKvHostRows(this, module);
            this.rowTargetBlocks = 4 * device.multiprocessors();
            for (MemorySegment f : new MemorySegment[]{k.prefillF32, k.prefillBf16}) {
                driver.setFunctionAttribute(f, CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        PREFILL_SHARED_BYTES);
            }
            for (int i = 0; i < MMA_HEAD_DIMS.length; i++) {
                driver.setFunctionAttribute(k.prefillMma[i], CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        mmaSharedBytes(MMA_HEAD_DIMS[i]));
            }
            for (MemorySegment[] group : new MemorySegment[][]{k.decodeF32, k.decodeBf16, k.decodeF32Narrow,
                    k.decodeBf16Narrow}) {
                for (MemorySegment f : group) {
                    driver.setFunctionAttribute(f, CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                            4 * DECODE_WARPS * MAX_GROUP * MAX_HEAD_DIM);
                }
            }
            this.groupHost = arena.allocate(GROUP_FIELDS * 4L * MAX_GROUPS, 16);

            this.groupedGemm = cublas.hasGroupedGemm() && probeGroupedGemm(bf16);
            this.experts = new CudaExperts(this);
            this.attention = new CudaAttention(this);
            this.batchedGemm = BATCHED_EXPERTS && bf16 && experts.probeBatchedGemm();
            log.accept("expert GEMMs: " + (bf16 ? CudaExperts.groupsDescription()
                    : groupedGemm ? "cublasGemmGroupedBatchedEx, one launch a projection"
                    : "one cublasGemmEx an expert (grouped GEMM " + (cublas.hasGroupedGemm()
                    ? "refuses this type mix" : "missing from this cuBLAS") + ")"));
            if (bf16) {
                log.accept("decode-sized MoE: " + (batchedGemm ? "every expert side by side, cublasGemmBatchedEx"
                        : "one expert after another") + "; up to " + ROUTED_MAX_ROWS + " rows only the routed experts");
            }
            this.profiler = Boolean.getBoolean("tandem.cuda.profile") ? new KernelProfiler(driver, stream) : null;
            this.graphs = GRAPHS && profiler == null ? new StepGraphs(this, new CudaGraphs(driver), ops) : null;
            log.accept("decode steps: " + (graphs != null ? "CUDA graphs, one per batch size"
                    : "launched one kernel at a time (" + (GRAPHS ? "profiling" : "-Dtandem.cuda.graphs=false") + ")"));
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    public CudaDevice device() {
        return device;
    }

    // for CudaCeilings, which measures the device with this backend's stream and handle
    CudaDriver driver() {
        bind();
        return driver;
    }

    MemorySegment stream() {
        return stream;
    }

    MemorySegment blas() {
        return blas;
    }

    MemorySegment one() {
        return one;
    }

    MemorySegment zeroScalar() {
        return zero;
    }

    void fillRandomBf16(long pointer, long n, long seed) {
        bind();
        fillSynthetic(pointer, n, seed, 1f, false);
    }

    /** {@code n} bf16 values, uniform in ±scale from a hash of seed and index, or each {@code scale} when constant. */
    private void fillSynthetic(long pointer, long n, long seed, float scale, boolean constant) {
        args.reset().p(pointer).p(n).p(seed).f(scale).i(constant ? 1 : 0);
        ops.launch(k.fillSynthetic, elementBlocks(n), 1, 1, ROW_THREADS, 0, "fill_synthetic_bf16");
    }

    /** Blocks of {@link #ROW_THREADS} for an elementwise kernel over {@code n} (its loop strides past the cap). */
    private static int elementBlocks(long n) {
        return (int) Math.min((n + ROW_THREADS - 1) / ROW_THREADS, 65_535L * 16);
    }

    public boolean bf16() {
        return bf16;
    }

    private void bind() {
        if (Thread.currentThread() != boundThread) {
            device.makeCurrent();
            boundThread = Thread.currentThread();
        }
    }

    private long track(long pointer, long bytes) {
        allocations.put(pointer, bytes);
        heldBytes += bytes;
        return pointer;
    }

    /** Frees one of this backend's allocations; a pointer it does not hold is left alone. */
    private void release(long pointer) {
        Long bytes = allocations.remove(pointer);
        if (bytes != null) {
            heldBytes -= bytes;
            driver.free(pointer);
        }
    }

    /** Device memory for {@code what}; out of memory names what was asked for and what is free. */
    private long allocateDevice(long bytes, String what) {
        return allocateDevice(bytes, what, 0);
    }

    /**
     * The same, within this process's share of the device where it has one, {@code keepFree} of
     * it left over (the KV cache leaves room for the scratch space later steps may still take).
     */
    private long allocateDevice(long bytes, String what, long keepFree) {
        ops.notInGraph();
        if (shareBytes > 0 && heldBytes + bytes + keepFree > shareBytes) {
            throw new TandemException(String.format("cuda:%d: %s needs %.2f GiB, but this process's share of the"
                    + " device (--gpu-memory-utilization: %.2f GiB) holds %.2f GiB already%s", device.ordinal, what,
                    bytes / CudaDevice.GIB, shareBytes / CudaDevice.GIB, heldBytes / CudaDevice.GIB,
                    keepFree > 0 ? String.format(" and keeps %.2f GiB for the steps' scratch space", keepFree / CudaDevice.GIB) : ""));
        }
        try {
            return track(driver.malloc(bytes), bytes);
        } catch (CudaException e) {
            if (e.code() == CudaDriver.CUDA_ERROR_OUT_OF_MEMORY) {
                long[] memory = driver.memoryInfo();
                throw new TandemException(String.format("cuda:%d: out of device memory: %s needs %.2f GiB, %.2f of %.2f GiB free",
                        device.ordinal, what, bytes / CudaDevice.GIB, memory[0] / CudaDevice.GIB, memory[1] / CudaDevice.GIB), e);
            }
            throw e;
        }
    }

    private int weightBytes() {
        return bf16 ? 2 : 4;
    }

    @Override
    public DeviceWeight weight(TensorView tensor) {
        bind();
        DType dtype = tensor.dtype();
        if (!dtype.isFloatingWeight()) {
            throw new IllegalArgumentException(tensor.name() + ": dtype " + dtype + " is not a weight type");
        }
        long n = tensor.elementCount();
        long dst = allocateDevice(n * weightBytes(), "weight " + tensor.name() + " " + tensor.shapeString());
        MemorySegment data = tensor.data();
        if ((dtype == DType.BF16 && bf16) || (dtype == DType.F32 && !bf16)) {
            uploader.copy(data, 0, data.byteSize(), dst);
        } else {
            convertUpload(data, dtype, n, dst);
        }
        weightBytes += n * weightBytes();
        return new CudaWeight(dst, tensor.rows(), tensor.cols(), weightBytes());
    }

    /** Uploads raw elements chunk by chunk into scratch and widens or narrows them into {@code dst}. */
    private void convertUpload(MemorySegment data, DType dtype, long n, long dst) {
        long chunkElements = WeightUploader.chunkBytes() / 4;
        long staging = scratch(chunkElements * dtype.bytes);
        MemorySegment kernel = switch (dtype) {
            case BF16 -> k.convertBf16ToF32;
            case F16 -> bf16 ? k.convertF16ToBf16 : k.convertF16ToF32;
            case F32 -> k.convertF32ToBf16;
            default -> throw new IllegalArgumentException("dtype " + dtype);
        };
        for (long at = 0; at < n; at += chunkElements) {
            long count = Math.min(chunkElements, n - at);
            uploader.copy(data, at * dtype.bytes, count * dtype.bytes, staging);
            launchElementwise(kernel, dst + at * weightBytes(), staging, count);
        }
    }

    private void launchElementwise(MemorySegment kernel, long out, long in, long n) {
        args.reset().p(out).p(in).p(n);
        beginOp();
        ops.launch(kernel, elementBlocks(n), 1, 1, ROW_THREADS, 0, "elementwise");
        endOp("convert");
    }

    /** Filled on the device by {@code fill_synthetic_bf16} (a hash of seed and index), never touching the host. */
    @Override
    public DeviceWeight syntheticWeight(String name, int rows, int cols, float halfWidth, long seed) {
        bind();
        long n = (long) rows * cols;
        long dst = allocateDevice(n * weightBytes(), "synthetic weight " + name);
        long bf16Copy = bf16 ? dst : scratch(n * 2);
        fillSynthetic(bf16Copy, n, seed, halfWidth == 0f ? 1f : halfWidth, halfWidth == 0f);
        if (!bf16) {
            launchElementwise(k.convertBf16ToF32, dst, bf16Copy, n);
        }
        weightBytes += n * weightBytes();
        return new CudaWeight(dst, rows, cols, weightBytes());
    }

    @Override
    public void weightsLoaded() {
        bind();
        drain();
        String summary = uploader.summary();
        long[] memory = driver.memoryInfo();
        log.accept(String.format("%s%.2f GiB of weights on cuda:%d, %.2f of %.2f GiB free",
                summary == null ? "" : summary + "; ", weightBytes / CudaDevice.GIB, device.ordinal,
                memory[0] / CudaDevice.GIB, memory[1] / CudaDevice.GIB));
    }

    /** One allocation holding the parts' rows; each part that was an allocation of its own is freed. */
    @Override
    public DeviceWeight stackRows(DeviceWeight... parts) {
        bind();
        CudaWeight first = (CudaWeight) parts[0];
        long rows = 0;
        for (DeviceWeight part : parts) {
            CudaWeight w = (CudaWeight) part;
            if (w.cols() != first.cols() || w.elementBytes() != first.elementBytes()) {
                throw new IllegalArgumentException("stacking weights of different widths or types");
            }
            rows += w.rows();
        }
        long rowBytes = (long) first.cols() * first.elementBytes();
        long dst = allocateDevice(rows * rowBytes, "stacked weights (" + rows + ", " + first.cols() + ")");
        long at = dst;
        for (DeviceWeight part : parts) {
            CudaWeight w = (CudaWeight) part;
            driver.copyOnDevice(at, w.pointer(), w.rows() * rowBytes, stream);
            at += w.rows() * rowBytes;
        }
        drain(); // the copies are done before the parts go
        for (DeviceWeight part : parts) {
            long p = ((CudaWeight) part).pointer();
            release(p);
        }
        return new CudaWeight(dst, Math.toIntExact(rows), first.cols(), first.elementBytes());
    }

    @Override
    public Activations allocate(int rows, int cols) {
        bind();
        long p = allocateDevice((long) rows * cols * Float.BYTES, "activations (" + rows + ", " + cols + ")");
        return new CudaActivations(p, rows, cols, cols, false);
    }

    /**
     * Host rows the device reads and writes in place over the bus: the memory is page-locked
     * and mapped into the device's address space (unified addressing makes the host address
     * the device address). Slower than device memory, but no staging copy.
     */
    @Override
    public Activations wrapHost(MemorySegment memory, int rows, int cols) {
        bind();
        if (memory.byteSize() < (long) rows * cols * Float.BYTES) {
            throw new IllegalArgumentException(memory.byteSize() + " bytes cannot hold (" + rows + ", " + cols + ") floats");
        }
        long mapped = driver.hostRegisterMapped(memory);
        if (mapped == 0) {
            throw new TandemException("cuda:" + device.ordinal + ": cannot page-lock " + memory.byteSize()
                    + " bytes of host memory at 0x" + Long.toHexString(memory.address()) + " for device access");
        }
        registered.add(memory);
        return new CudaActivations(mapped, rows, cols, cols, true);
    }

    /** Copies on a stream of their own for a transport on the calling thread; closed with this backend at the latest. */
    @Override
    public synchronized dev.tandem.core.compute.DeviceCopies openCopies() {
        bind();
        CudaDeviceCopies opened = new CudaDeviceCopies(this, driver);
        deviceCopies.add(opened);
        return opened;
    }

    void log(String line) {
        log.accept(line);
    }

    /** The device current on the calling thread, for {@link CudaDeviceCopies} used from a transport's thread. */
    void bindForCopies() {
        bind();
    }

    /** The compute stream, for an event that orders copies after it; not inside a CUDA graph's step. */
    MemorySegment computeStreamForCopies() {
        bind();
        ops.notInGraph();
        return stream;
    }

    /** rows_to_bf16 into {@code pairs} (two bf16 a float slot), the bf16 GEMM input's cast. */
    @Override
    public void roundToBf16(Activations pairs, Activations src, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations p = cuda(pairs);
        CudaActivations s = cuda(src);
        if (!p.contiguous() || p.hostMapped() || 2 * p.cols() != s.cols() || rows > p.rowCapacity() || rows > s.rowCapacity()) {
            throw new IllegalArgumentException("cannot round " + rows + " rows of " + s.cols() + " columns into " + p);
        }
        written(p, rows);
        args.reset().p(p.pointer()).p(s.pointer()).i(s.stride()).i(s.cols());
        launchRows(k.rowsToBf16, rows, s.cols(), "rows_to_bf16");
    }

    @Override
    public void widenFromBf16(Activations dst, Activations pairs, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations d = cuda(dst);
        CudaActivations p = cuda(pairs);
        if (!p.contiguous() || 2 * p.cols() != d.cols() || rows > p.rowCapacity() || rows > d.rowCapacity()) {
            throw new IllegalArgumentException("cannot widen " + rows + " bf16 rows of " + p + " into " + d);
        }
        written(d, rows);
        if (d.contiguous()) {
            launchElementwise(k.convertBf16ToF32, d.pointer(), p.pointer(), (long) rows * d.cols());
            return;
        }
        for (int r = 0; r < rows; r++) {
            launchElementwise(k.convertBf16ToF32, d.pointer() + 4L * r * d.stride(), p.pointer() + 2L * r * d.cols(), d.cols());
        }
    }

    /** Kernels reach host-mapped rows over the bus a transaction at a time: a DMA into device rows is far faster. */
    @Override
    public boolean stagesHostRows() {
        return true;
    }

    @Override
    public void copyRows(Activations dst, Activations src, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations d = cuda(dst);
        CudaActivations s = cuda(src);
        if (d.cols() != s.cols() || rows > d.rowCapacity() || rows > s.rowCapacity()) {
            throw new IllegalArgumentException("cannot copy " + rows + " rows of " + s.cols() + " columns into "
                    + d.rowCapacity() + " rows of " + d.cols());
        }
        written(d, rows);
        if (d.contiguous() && s.contiguous()) {
            ops.copy(d.pointer(), s.pointer(), 4L * rows * d.cols());
            return;
        }
        for (int r = 0; r < rows; r++) {
            ops.copy(d.pointer() + 4L * r * d.stride(), s.pointer() + 4L * r * s.stride(), 4L * d.cols());
        }
    }

    /** Rounded on the device (rows_to_bf16, the bf16 GEMM input's cast), then one DMA of half the bytes. */
    @Override
    public void copyRowsToBf16(MemorySegment dst, Activations src, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations s = cuda(src);
        long bytes = 2L * rows * s.cols();
        checkHostRows(dst, bytes, rows, s);
        long rounded = bf16Input(s, rows, s.cols());
        ops.copy(pinned(dst), rounded, bytes);
    }

    /** One DMA of the bf16 rows into scratch space, widened there into {@code dst}. */
    @Override
    public void copyRowsFromBf16(Activations dst, MemorySegment src, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations d = cuda(dst);
        long bytes = 2L * rows * d.cols();
        checkHostRows(src, bytes, rows, d);
        long staged = scratch(bytes);
        ops.copy(staged, pinned(src), bytes);
        written(d, rows);
        if (d.contiguous()) {
            launchElementwise(k.convertBf16ToF32, d.pointer(), staged, (long) rows * d.cols());
            return;
        }
        for (int r = 0; r < rows; r++) {
            launchElementwise(k.convertBf16ToF32, d.pointer() + 4L * r * d.stride(), staged + 2L * r * d.cols(), d.cols());
        }
    }

    private static void checkHostRows(MemorySegment host, long bytes, int rows, CudaActivations a) {
        if (rows > a.rowCapacity() || host.byteSize() < bytes) {
            throw new IllegalArgumentException(rows + " bf16 rows of " + a.cols() + " columns do not fit "
                    + host.byteSize() + " bytes of host memory and " + a.rowCapacity() + " rows");
        }
    }

    /**
     * {@code host}'s address for a DMA, page-locked at first use so that the copy runs at the bus's
     * rate; where locking fails (the log says so once) the driver copies from pageable memory.
     */
    private long pinned(MemorySegment host) {
        Boolean locked = pinnedHost.get(host.address());
        if (locked == null) {
            boolean viewed = registered.stream().anyMatch(m -> m.address() <= host.address()
                    && host.address() + host.byteSize() <= m.address() + m.byteSize()); // a wrapHost view's memory
            boolean registeredNow = !viewed && driver.hostRegisterMapped(host) != 0;
            if (registeredNow) {
                registered.add(host);
            }
            locked = viewed || registeredNow;
            pinnedHost.put(host.address(), locked);
            if (!locked) {
                log.accept("cannot page-lock " + host.byteSize() + " bytes of host memory at 0x"
                        + Long.toHexString(host.address()) + "; bf16 rows to and from it go through pageable copies");
            }
        }
        return host.address();
    }

    @Override
    public KvStorage allocateKv(int layers, int blocks, int blockSize, int kvHeads, int headDim) {
        bind();
        if (headDim > MAX_HEAD_DIM) {
            throw new TandemException("head_dim " + headDim + " exceeds the CUDA attention kernel's " + MAX_HEAD_DIM);
        }
        int element = bf16 ? 2 : 4;
        long bytes = CudaKvStorage.bytes(layers, blocks, blockSize, kvHeads * headDim, element);
        long base = allocateDevice(bytes, "the KV cache (" + (long) blocks * blockSize + " tokens)", KV_RESERVE);
        return new CudaKvStorage(base, layers, blocks, blockSize, kvHeads * headDim, element);
    }

    @Override
    public long kvBytesPerToken(int layers, int kvHeads, int headDim) {
        return CudaKvStorage.bytes(layers, 1, 1, kvHeads * headDim, bf16 ? 2 : 4);
    }

    /**
     * {@code utilization · total − (total − free)}, less a reserve for the scratch space and
     * activations that the first steps still allocate.
     */
    @Override
    public long kvMemoryBudget(double utilization) {
        bind();
        drain();
        long[] memory = driver.memoryInfo();
        long inUse = memory[1] - memory[0];
        if (shareBytes > 0) { // what this process's share leaves, and no more than is free
            return Math.max(0, Math.min(shareBytes - heldBytes, memory[0]) - KV_RESERVE);
        }
        return Math.max(0, (long) (utilization * memory[1]) - inUse - KV_RESERVE);
    }

    @Override
    public void embed(Activations out, DeviceWeight table, int[] tokens, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations o = cuda(out);
        CudaWeight t = (CudaWeight) table;
        long ids = hostArgs.ints(tokens, rows);
        written(o, rows);
        args.reset().p(o.pointer()).i(o.stride()).p(t.pointer()).p(ids).i(o.cols());
        launchRows(t.bf16() ? k.embedBf16 : k.embedF32, rows, o.cols(), "embed");
    }

    @Override
    public void matmul(Activations out, Activations in, DeviceWeight w, int rows) {
        gemm(cuda(out), cuda(in), (CudaWeight) w, rows, false);
    }

    @Override
    public void matmulTransposed(Activations out, Activations in, DeviceWeight w, int rows) {
        gemm(cuda(out), cuda(in), (CudaWeight) w, rows, true);
    }

    /**
     * Row-major {@code out = in · Wᵀ} (or {@code in · W} when transposed) as column-major
     * cuBLAS sees it: {@code outᵀ = op(W) · inᵀ}.
     */
    private void gemm(CudaActivations out, CudaActivations in, CudaWeight w, int rows, boolean transposed) {
        gemm(out, in, w, rows, transposed, null, 0, false);
    }

    /**
     * {@code out (+)= in · op(W)}: a few rows of bf16 weights go to the GEMV kernel (float32
     * inputs, 16-byte loads; with {@code gates}, skipped when no row routes to {@code expert}),
     * the rest to cuBLAS.
     */
    private void gemm(CudaActivations out, CudaActivations in, CudaWeight w, int rows, boolean transposed,
                      CudaActivations gates, int expert, boolean accumulate) {
        if (rows == 0) {
            return;
        }
        bind();
        if ((GEMV || gates != null) && gemvFits(in, w, rows, transposed)) { // faster than cuBLAS at 1-2 rows
            gemv(out, in, w, rows, gates, expert, accumulate);
            return;
        }
        int inner = transposed ? w.rows() : w.cols();
        int outer = transposed ? w.cols() : w.rows();
        if (in.cols() != inner || out.cols() != outer) {
            throw new IllegalArgumentException("matmul shapes: in " + in.cols() + " cols, out " + out.cols()
                    + " cols, weight (" + w.rows() + ", " + w.cols() + ")" + (transposed ? " transposed" : ""));
        }
        long b = in.pointer();
        int ldb = in.stride();
        int type = Cublas.CUDA_R_32F;
        if (w.bf16()) {
            b = bf16Input(in, rows, inner);
            ldb = inner;
            type = Cublas.CUDA_R_16BF;
        }
        written(out, rows);
        int splits = w.bf16() && !transposed && !accumulate ? splitK(outer, rows, inner) : 1;
        if (splits > 1) {
            splitKGemm(out, w, b, rows, inner, outer, splits);
            return;
        }
        beginOp();
        ops.gemm(blas, transposed ? Cublas.OP_N : Cublas.OP_T, Cublas.OP_N, outer, rows, inner, one,
                w.pointer(), type, w.cols(), b, type, ldb, accumulate ? one : zero, out.pointer(), Cublas.CUDA_R_32F,
                out.stride());
        if (profiler != null) {
            endOp("gemm " + outer + "x" + inner + (rows > 256 ? " (rows>256)" : rows > 16 ? " (rows 17-256)" : " (rows<=16)"));
        }
    }

    /**
     * Parts to cut K into where a bf16 GEMM of a decode batch makes too few output tiles of
     * 128 × 128 to fill half the device (q|k|v and o at 17-256 rows: 48 and 32 tiles on 132
     * multiprocessors; cuBLAS does not split them itself): one batched GEMM of the parts into
     * float32 partials, then their sum. 1 where it does not pay.
     */
    private int splitK(int outer, int rows, int inner) {
        if (!SPLIT_K || !batchedGemm || rows <= GEMV_MAX_ROWS || rows > 256) {
            return 1;
        }
        int tiles = ((outer + 127) / 128) * ((rows + 127) / 128);
        int splits = Math.min(MAX_SPLIT_K, device.multiprocessors() / tiles);
        while (splits > 1 && inner % (64 * splits) != 0) {
            splits--;
        }
        return Math.max(1, splits);
    }

    private void splitKGemm(CudaActivations out, CudaWeight w, long in, int rows, int inner, int outer, int splits) {
        int part = inner / splits;
        long partials = scratch(4L * splits * rows * outer);
        for (int s = 0; s < splits; s++) {
            splitPointers[s] = w.pointer() + 2L * s * part;
            splitPointers[splits + s] = in + 2L * s * part;
            splitPointers[2 * splits + s] = partials + 4L * s * rows * outer;
        }
        long p = hostArgs.longs(splitPointers, 3 * splits);
        beginOp();
        int status = ops.gemmBatched(blas, Cublas.OP_T, Cublas.OP_N, outer, rows, part, one, p, Cublas.CUDA_R_16BF,
                inner, p + 8L * splits, Cublas.CUDA_R_16BF, inner, zero, p + 16L * splits, Cublas.CUDA_R_32F, outer,
                splits);
        if (status != 0) {
            throw new CudaException("cublasGemmBatchedEx (split K) failed: cublasStatus " + status, status);
        }
        if (profiler != null) {
            endOp("gemm " + outer + "x" + inner + " (split K " + splits + ")");
        }
        args.reset().p(out.pointer()).i(out.stride()).p(partials).i(rows).i(splits).i(outer);
        launchRows(k.sumExperts, rows, outer, "sum_experts (split K)");
    }

    private static boolean gemvFits(CudaActivations in, CudaWeight w, int rows, boolean transposed) {
        return w.bf16() && !transposed && rows <= GEMV_MAX_ROWS && w.cols() % 8 == 0 && w.pointer() % 16 == 0
                && in.pointer() % 16 == 0 && in.stride() % 4 == 0;
    }

    private void gemv(CudaActivations out, CudaActivations in, CudaWeight w, int rows, CudaActivations gates, int expert,
                      boolean accumulate) {
        if (in.cols() != w.cols() || out.cols() != w.rows()) {
            throw new IllegalArgumentException("gemv shapes: in " + in.cols() + " cols, out " + out.cols()
                    + " cols, weight (" + w.rows() + ", " + w.cols() + ")");
        }
        written(out, rows);
        args.reset().p(out.pointer()).i(out.stride()).p(in.pointer()).i(in.stride()).p(w.pointer()).i(w.rows())
                .i(w.cols()).i(rows).p(gates == null ? 0 : gates.pointer()).i(gates == null ? 0 : gates.stride())
                .i(expert).i(accumulate ? 1 : 0);
        beginOp();
        int columnsPerBlock = GEMV_WARPS * GEMV_COLS;
        int blocks = (w.rows() + columnsPerBlock - 1) / columnsPerBlock;
        boolean splitK = blocks < 4 * device.multiprocessors(); // too few warps a multiprocessor: split K too
        if (splitK) {
            blocks = (w.rows() + GEMV_COLS - 1) / GEMV_COLS;
        }
        MemorySegment kernel = rows == 1 ? (splitK ? k.gemv1SplitK : k.gemv1) : (splitK ? k.gemv2SplitK : k.gemv2);
        ops.launch(kernel, blocks, 1, 1, 32 * GEMV_WARPS, 0, "gemv");
        if (profiler != null) {
            endOp("gemv " + w.rows() + "x" + w.cols() + (gates == null ? "" : " (skips unrouted)"));
        }
    }

    @Override
    public void matmulIfRouted(Activations out, Activations in, DeviceWeight w, int rows, Activations gates,
                               int expert) {
        gemm(cuda(out), cuda(in), (CudaWeight) w, rows, false, cuda(gates), expert, false);
    }

    /** Accumulates in place: the GEMV adds to out, cuBLAS with beta = 1; {@code scratch} is not needed. */
    @Override
    public void matmulAddIfRouted(Activations acc, Activations in, DeviceWeight w, boolean transposed, int rows,
                                  Activations gates, int expert, Activations scratch) {
        gemm(cuda(acc), cuda(in), (CudaWeight) w, rows, transposed, cuda(gates), expert, true);
    }

    /** The GEMV kernel skips them: bf16 weights, up to {@link #GEMV_MAX_ROWS} rows. */
    @Override
    public boolean skipsUnroutedExperts(int rows) {
        return SKIP_UNROUTED && bf16 && rows <= GEMV_MAX_ROWS;
    }

    /**
     * The bf16 copy of {@code in}'s rows that a bf16 GEMM reads: the one {@link #copies} holds, or
     * a new one. Rows in mapped host memory are rounded every time (the host writes them unseen).
     */
    long bf16Input(CudaActivations in, int rows, int cols) {
        long found = in.hostMapped() ? 0 : copies.find(in.pointer(), rows, cols, in.stride());
        if (found != 0) {
            return found;
        }
        int entry = copyEntry((long) rows * cols * 2);
        long b = copies.buffer(entry);
        args.reset().p(b).p(in.pointer()).i(in.stride()).i(cols);
        launchRows(k.rowsToBf16, rows, cols, "rows_to_bf16");
        if (!in.hostMapped()) {
            copies.fill(entry, in.pointer(), rows, cols, in.stride());
        }
        return b;
    }

    // -Dtandem.cuda.producedCopies=false: no bf16 copies written by the producers, for A/B runs
    private static final boolean PRODUCED_COPIES = !"false".equals(System.getProperty("tandem.cuda.producedCopies"));
    private static final int PRODUCED_COPY_MIN_ROWS = 257; // fewer rows go to the GEMV or a split-K GEMM of their own

    /**
     * Where the kernel about to write {@code rows} of {@code out} (after {@link #written}) should
     * also write them rounded to bf16: prompt-sized rows that a bf16 GEMM reads next (a norm's
     * output, the prefill attention's, the experts' gathered rows). The copy is registered as
     * {@link #bf16Input} would make it, so the GEMM skips its rows_to_bf16 pass, a read and a
     * write of the rows. 0 elsewhere: float32 weights, few rows, mapped host rows, a traced step.
     */
    long producedBf16Copy(CudaActivations out, int rows) {
        if (!PRODUCED_COPIES || !bf16 || rows < PRODUCED_COPY_MIN_ROWS || out.hostMapped() || !ops.live()) {
            return 0;
        }
        int entry = copyEntry(2L * rows * out.cols());
        copies.fill(entry, out.pointer(), rows, out.cols(), out.stride());
        return copies.buffer(entry);
    }

    /** An entry of {@link #copies} whose buffer holds {@code bytes}; growing one waits for the stream. */
    private int copyEntry(long bytes) {
        int entry = copies.victim();
        if (copies.capacity(entry) < bytes) {
            drain();
            if (copies.capacity(entry) > 0) {
                release(copies.buffer(entry));
            }
            long size = Math.max(bytes, 2 * copies.capacity(entry));
            copies.setBuffer(entry, allocateDevice(size, "bf16 GEMM inputs"), size);
        }
        return entry;
    }

    /** Before a kernel writes rows of {@code a}: cached bf16 copies of them go stale. */
    void written(CudaActivations a, int rows) {
        written(a.pointer(), 4L * ((long) Math.max(rows - 1, 0) * a.stride() + a.cols()));
    }

    /** Before a kernel writes {@code bytes} from {@code pointer}, in whatever type. */
    void written(long pointer, long bytes) {
        copies.written(pointer, bytes);
    }

    /**
     * One cublasGemmGroupedBatchedEx for all groups, where cuBLAS takes the type mix (probed at
     * start); else a GEMM a group.
     */
    @Override
    public void matmulGroups(Activations out, Activations in, DeviceWeight[] weights, int[] offsets, int groups,
                             boolean transposed) {
        int total = groups == 0 ? 0 : offsets[groups] - offsets[0];
        if (groups < 2 || groups > MAX_GROUPS || total == 0) {
            ComputeBackend.super.matmulGroups(out, in, weights, offsets, groups, transposed);
            return;
        }
        ops.notInGraph();             // its group arrays are host memory cuBLAS reads as it is called
        if (!groupedGemm) {
            // One GEMM a group, in order: spreading them over side streams was measured 2-4x slower
            // on the H200 (cuBLAS's Hopper kernels fill the device; concurrent ones fight over it).
            ComputeBackend.super.matmulGroups(out, in, weights, offsets, groups, transposed);
            return;
        }
        bind();
        CudaActivations o = cuda(out);
        CudaActivations i = cuda(in);
        CudaWeight w0 = (CudaWeight) weights[0];
        int inner = transposed ? w0.rows() : w0.cols();
        int outer = transposed ? w0.cols() : w0.rows();
        if (i.cols() != inner || o.cols() != outer) {
            throw new IllegalArgumentException("grouped matmul shapes: in " + i.cols() + " cols, out " + o.cols()
                    + " cols, weight (" + w0.rows() + ", " + w0.cols() + ")" + (transposed ? " transposed" : ""));
        }
        int type = w0.bf16() ? Cublas.CUDA_R_16BF : Cublas.CUDA_R_32F;
        long b;
        int ldb;
        if (w0.bf16()) {
            b = bf16Input((CudaActivations) i.rows(offsets[0], total), total, inner);
            ldb = inner;
        } else {
            b = i.pointer() + 4L * offsets[0] * i.stride();
            ldb = i.stride();
        }
        int n = 0;
        for (int g = 0; g < groups; g++) {
            int rows = offsets[g + 1] - offsets[g];
            if (rows == 0) {
                continue;
            }
            CudaWeight w = (CudaWeight) weights[g];
            if (w.rows() != w0.rows() || w.cols() != w0.cols() || w.bf16() != w0.bf16()) {
                throw new IllegalArgumentException("grouped matmul: weights of different shapes or types");
            }
            setGroup(n, transposed ? Cublas.OP_N : Cublas.OP_T, outer, rows, inner, w.cols(), ldb, o.stride());
            groupPointers[n] = w.pointer();                                    // A
            groupPointers[MAX_GROUPS + n] = w0.bf16() ? b + 2L * (offsets[g] - offsets[0]) * inner
                    : b + 4L * (offsets[g] - offsets[0]) * i.stride();          // B
            groupPointers[2 * MAX_GROUPS + n] = o.pointer() + 4L * offsets[g] * o.stride(); // C
            n++;
        }
        System.arraycopy(groupPointers, MAX_GROUPS, packedPointers, n, n);     // [A… B… C…], n each
        System.arraycopy(groupPointers, 2 * MAX_GROUPS, packedPointers, 2 * n, n);
        System.arraycopy(groupPointers, 0, packedPointers, 0, n);
        long pointers = hostArgs.longs(packedPointers, 3 * n);
        written((CudaActivations) o.rows(offsets[0], total), total);
        beginOp();
        int status = cublas.gemmGrouped(blas, groupField(0), groupField(1), groupField(2), groupField(3), groupField(4),
                groupField(8), pointers, type, groupField(5), pointers + 8L * n, type, groupField(6), groupField(9),
                pointers + 16L * n, Cublas.CUDA_R_32F, groupField(7), n, groupField(10));
        if (status != 0) {
            throw new CudaException("cublasGemmGroupedBatchedEx(" + n + " groups of " + outer + "x" + inner
                    + ") failed: cublasStatus " + status, status);
        }
        if (profiler != null) {
            endOp("grouped gemm " + outer + "x" + inner);
        }
    }

    /** See {@link CudaExperts#groups}: bf16 intermediates where the weights are bf16. */
    @Override
    public void expertGroups(Activations out, Activations in, Activations gateUp, DeviceWeight[] gateUps,
                             DeviceWeight[] downs, int[] offsets, int groups, boolean downTransposed) {
        if (offsets[groups] == offsets[0]) {
            return;
        }
        bind();
        if (!experts.groups(cuda(out), cuda(in), cuda(gateUp), gateUps, downs, offsets, groups, downTransposed)) {
            ComputeBackend.super.expertGroups(out, in, gateUp, gateUps, downs, offsets, groups, downTransposed);
        }
    }

    /** Field f (see {@link #GROUP_FIELDS}) of the grouped GEMM's host arrays, one entry a group. */
    private MemorySegment groupField(int f) {
        return groupHost.asSlice(4L * f * MAX_GROUPS, 4L * MAX_GROUPS);
    }

    private void setGroup(int g, int opA, int m, int n, int k, int lda, int ldb, int ldc) {
        int[] ints = {opA, Cublas.OP_N, m, n, k, lda, ldb, ldc};
        for (int f = 0; f < ints.length; f++) {
            groupHost.setAtIndex(ValueLayout.JAVA_INT, (long) f * MAX_GROUPS + g, ints[f]);
        }
        groupHost.setAtIndex(ValueLayout.JAVA_FLOAT, 8L * MAX_GROUPS + g, 1f);
        groupHost.setAtIndex(ValueLayout.JAVA_FLOAT, 9L * MAX_GROUPS + g, 0f);
        groupHost.setAtIndex(ValueLayout.JAVA_INT, 10L * MAX_GROUPS + g, 1);
    }

    /** Whether cuBLAS runs a two-group GEMM of our type mix (bf16 or float32 in, float32 out). */
    private boolean probeGroupedGemm(boolean bf16Inputs) {
        int type = bf16Inputs ? Cublas.CUDA_R_16BF : Cublas.CUDA_R_32F;
        return probe((a, c, size) -> {
            for (int g = 0; g < 2; g++) {
                setGroup(g, Cublas.OP_T, size, size, size, size, size, size);
                packedPointers[g] = a;
                packedPointers[2 + g] = a;
                packedPointers[4 + g] = c + 4L * size * size * g;
            }
            long pointers = hostArgs.longs(packedPointers, 6);
            return cublas.gemmGrouped(blas, groupField(0), groupField(1), groupField(2), groupField(3),
                    groupField(4), groupField(8), pointers, type, groupField(5), pointers + 16, type, groupField(6),
                    groupField(9), pointers + 32, Cublas.CUDA_R_32F, groupField(7), 2, groupField(10));
        });
    }

    /** A cuBLAS call on two {@code size}² problems, inputs at {@code a} (zeros), outputs at {@code c}. */
    interface ProbeCall {
        int status(long a, long c, int size);
    }

    /** Whether cuBLAS accepts {@code call} (status 0), run on scratch matrices freed afterwards. */
    boolean probe(ProbeCall call) {
        int size = 16;
        long a = driver.malloc(4L * size * size);
        long c = driver.malloc(4L * size * size * 2);
        try {
            driver.fill32(a, 0, size * size, stream);
            int status = call.status(a, c, size);
            drain();
            return status == 0;
        } finally {
            driver.free(a);
            driver.free(c);
        }
    }

    @Override
    public void combineRows(Activations acc, Activations in, int[] targets, int[] start, int[] source, float[] weight,
                            int count) {
        if (count == 0) {
            return;
        }
        bind();
        CudaActivations a = cuda(acc);
        CudaActivations src = cuda(in);
        int entries = start[count];
        long t = hostArgs.ints(targets, count);
        long st = hostArgs.ints(start, count + 1);
        long so = hostArgs.ints(source, entries);
        long w = hostArgs.floats(weight, entries);
        copies.clear(); // targets anywhere in acc
        args.reset().p(a.pointer()).i(a.stride()).p(src.pointer()).i(src.stride()).p(t).p(st).p(so).p(w).i(a.cols());
        if (rowsOf16Bytes(a) && rowsOf16Bytes(src)) {
            launchRows(k.combineRows4, count, a.cols() / 4, "combine_rows");
        } else {
            launchRows(k.combineRows, count, a.cols(), "combine_rows");
        }
    }

    @Override
    public void rmsNorm(Activations out, Activations in, DeviceWeight gain, float eps, int rows) {
        norm(out, in, gain, eps, rows, k.rmsNormBf16, k.rmsNormF32, k.rmsNormBf16x4);
    }

    @Override
    public void layerNorm(Activations out, Activations in, DeviceWeight gain, float eps, int rows) {
        norm(out, in, gain, eps, rows, k.layerNormBf16, k.layerNormF32, null);
    }

    /** {@code bf16x4}: the float4 form of {@code bf16Kernel} for aligned rows, or null. */
    private void norm(Activations out, Activations in, DeviceWeight gain, float eps, int rows, MemorySegment bf16Kernel,
                      MemorySegment f32Kernel, MemorySegment bf16x4) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations o = cuda(out);
        CudaActivations i = cuda(in);
        CudaWeight g = (CudaWeight) gain;
        written(o, rows);
        long copy = producedBf16Copy(o, rows);
        args.reset().p(o.pointer()).i(o.stride()).p(i.pointer()).i(i.stride()).p(g.pointer()).i(i.cols()).f(eps)
                .p(copy);
        boolean vector = bf16x4 != null && g.bf16() && rowsOf16Bytes(o) && rowsOf16Bytes(i) && g.pointer() % 8 == 0;
        launchNorm(vector ? bf16x4 : g.bf16() ? bf16Kernel : f32Kernel, rows);
    }

    @Override
    public void clamp(Activations x, float limit, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations a = cuda(x);
        written(a, rows);
        args.reset().p(a.pointer()).i(a.stride()).i(a.cols()).f(limit);
        launchRows(k.clamp, rows, a.cols(), "clamp_rows");
    }

    @Override
    public void rope(Activations x, int headDim, double theta, int[] positions, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations a = cuda(x);
        long frequencies = inverseFrequencies(theta, headDim);
        long pos = hostArgs.ints(positions, rows);
        written(a, rows);
        args.reset().p(a.pointer()).i(a.stride()).i(a.cols()).i(headDim).p(pos).p(frequencies);
        launchRows(k.rope, rows, a.cols() / 2, "rope_rows");
    }

    /** θ^(−2j/headDim) for j < headDim/2, formed exactly as the CPU backend forms them. */
    private long inverseFrequencies(double theta, int headDim) {
        long key = Double.doubleToLongBits(theta) * 31 + headDim;
        Long cached = inverseFrequencies.get(key);
        if (cached != null) {
            return cached;
        }
        int half = headDim / 2;
        float[] values = new float[half];
        for (int j = 0; j < half; j++) {
            values[j] = (float) (1.0 / (float) Math.pow(theta, (2.0 * j) / headDim));
        }
        long p = allocateDevice(4L * half, "RoPE frequencies");
        long staged = hostArgs.floats(values, half);
        driver.copyOnDevice(p, staged, 4L * half, stream);
        inverseFrequencies.put(key, p);
        return p;
    }

    @Override
    public void writeKv(KvStorage kv, int layer, Activations kActs, Activations vActs, int[] slots, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaKvStorage s = (CudaKvStorage) kv;
        CudaActivations keys = cuda(kActs);
        CudaActivations values = cuda(vActs);
        long slotPtr = hostArgs.ints(slots, rows);
        args.reset().p(s.keys(layer)).p(s.values(layer)).p(keys.pointer()).i(keys.stride()).p(values.pointer())
                .i(values.stride()).p(slotPtr).i(s.rowWidth);
        launchRows(s.elementBytes == 2 ? k.writeKvBf16 : k.writeKvF32, rows, s.rowWidth, "write_kv");
    }

    @Override
    public void readKv(KvStorage kv, int layer, int[] slots, int count, float[] keys, float[] values) {
        CudaKvStorage s = (CudaKvStorage) kv;
        KvStorage.checkRows(s, s.rowWidth, layer, slots, count, keys, values);
        if (count == 0) {
            return;
        }
        bind();
        long rowsBytes = 4L * count * s.rowWidth;
        long rows = scratch(2 * rowsBytes);
        long slotPtr = hostArgs.ints(slots, count);
        MemorySegment kernel = s.elementBytes == 2 ? k.loadKvBf16 : k.loadKvF32;
        args.reset().p(rows).p(s.keys(layer)).p(slotPtr).i(s.rowWidth);
        launchRows(kernel, count, s.rowWidth, "load_kv_rows");
        args.reset().p(rows + rowsBytes).p(s.values(layer)).p(slotPtr).i(s.rowWidth);
        launchRows(kernel, count, s.rowWidth, "load_kv_rows");
        MemorySegment host = hostOut(2 * rowsBytes);
        ops.copyToHost(host, rows, 2 * rowsBytes);
        drain();
        MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, 0, keys, 0, count * s.rowWidth);
        MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, rowsBytes, values, 0, count * s.rowWidth);
    }

    @Override
    public void writeKvRows(KvStorage kv, int layer, int[] slots, int count, float[] keys, float[] values) {
        CudaKvStorage s = (CudaKvStorage) kv;
        KvStorage.checkRows(s, s.rowWidth, layer, slots, count, keys, values);
        if (count == 0) {
            return;
        }
        bind();
        long keyRows = hostArgs.floats(keys, count * s.rowWidth);
        long valueRows = hostArgs.floats(values, count * s.rowWidth);
        long slotPtr = hostArgs.ints(slots, count);
        MemorySegment kernel = s.elementBytes == 2 ? k.storeKvBf16 : k.storeKvF32;
        args.reset().p(s.keys(layer)).p(keyRows).p(slotPtr).i(s.rowWidth);
        launchRows(kernel, count, s.rowWidth, "store_kv_rows");
        args.reset().p(s.values(layer)).p(valueRows).p(slotPtr).i(s.rowWidth);
        launchRows(kernel, count, s.rowWidth, "store_kv_rows");
    }

    /** See {@link CudaKvHostRows}: a gather kernel and one DMA, in the cache's type. */
    @Override
    public void copyKvToHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment dst,
                             long offset) {
        bind();
        kvHostRows.toHost(kv, layer, slots, from, count, dst, offset);
    }

    /** See {@link CudaKvHostRows}: one DMA and a scatter kernel, in the cache's type. */
    @Override
    public void copyKvFromHost(KvStorage kv, int layer, int[] slots, int from, int count, MemorySegment src,
                               long offset) {
        bind();
        kvHostRows.fromHost(kv, layer, slots, from, count, src, offset);
    }

    /** See {@link CudaKvHostRows}: the gather kernel alone, into device rows. */
    @Override
    public void gatherKv(KvStorage kv, int layer, int[] slots, int from, int count, Activations dst) {
        bind();
        kvHostRows.gather(kv, layer, slots, from, count, deviceRows(dst, kv, count));
    }

    /** See {@link CudaKvHostRows}: the scatter kernel alone, from device rows. */
    @Override
    public void scatterKv(KvStorage kv, int layer, int[] slots, int from, int count, Activations src) {
        bind();
        kvHostRows.scatter(kv, layer, slots, from, count, deviceRows(src, kv, count));
    }

    /** The device address of {@code rows}, which must be device memory with room for {@code count} KV rows. */
    private static long deviceRows(Activations rows, KvStorage kv, int count) {
        CudaActivations a = (CudaActivations) rows;
        long bytes = KvStorage.hostRowsBytes(kv, count);
        if (a.hostMapped() || !a.contiguous() || (long) a.rowCapacity() * a.cols() * Float.BYTES < bytes) {
            throw new IllegalArgumentException("KV rows on the device need " + bytes + " B of contiguous device rows, not "
                    + a);
        }
        return a.pointer();
    }

    /** Page-locks {@code memory} as {@link #pinned} does at a DMA's first use, but all of it, now. */
    @Override
    public void registerHost(MemorySegment memory) {
        bind();
        pinned(memory);
    }

    /** Whether {@code [address, address + bytes)} lies in page-locked memory this backend registered. */
    boolean isRegistered(long address, long bytes) {
        for (int i = 0; i < registered.size(); i++) {
            MemorySegment m = registered.get(i);
            if (m.address() <= address && address + bytes <= m.address() + m.byteSize()) {
                return true;
            }
        }
        return false;
    }

    /** See {@link CudaAttention}. */
    @Override
    public void attention(Activations out, Activations q, KvStorage kv, int layer, TokenBatch batch, int headDim,
                          int window) {
        bind();
        attention.run(out, q, kv, layer, batch, headDim, window);
    }

    @Override
    public void siluMul(Activations gate, Activations up, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations g = cuda(gate);
        CudaActivations u = cuda(up);
        written(g, rows);
        int entry = bf16 && !g.hostMapped() ? copyEntry((long) rows * g.cols() * 2) : -1;
        args.reset().p(g.pointer()).i(g.stride()).p(u.pointer()).i(u.stride()).i(g.cols())
                .p(entry < 0 ? 0 : copies.buffer(entry));
        launchRows(k.siluMul, rows, g.cols(), "silu_mul");
        if (entry >= 0) {
            copies.fill(entry, g.pointer(), rows, g.cols(), g.stride()); // the down projection's input, rounded here
        }
    }

    @Override
    public void siluMulScaled(Activations gate, Activations up, Activations gates, int expert, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations g = cuda(gate);
        CudaActivations u = cuda(up);
        CudaActivations w = cuda(gates);
        written(g, rows);
        int entry = bf16 ? copyEntry((long) rows * g.cols() * 2) : -1;
        args.reset().p(g.pointer()).i(g.stride()).p(u.pointer()).i(u.stride()).p(w.pointer()).i(w.stride()).i(expert)
                .i(g.cols()).p(entry < 0 ? 0 : copies.buffer(entry));
        launchRows(k.siluMulScaled, rows, g.cols(), "silu_mul_scaled");
        if (entry >= 0) {
            copies.fill(entry, g.pointer(), rows, g.cols(), g.stride()); // the down projection's input, rounded here
        }
    }

    @Override
    public void routeDense(Activations gates, Activations logits, int topK, float normP, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations g = cuda(gates);
        CudaActivations l = cuda(logits);
        if (l.cols() > MAX_EXPERTS || topK > l.cols()) {
            throw new IllegalArgumentException("routing " + topK + " of " + l.cols() + " experts; the kernel takes up to "
                    + MAX_EXPERTS);
        }
        written(g, rows);
        args.reset().p(g.pointer()).i(g.stride()).p(l.pointer()).i(l.stride()).i(rows).i(l.cols()).i(topK).f(normP)
                .p(0).p(0);
        beginOp();
        ops.launch(k.routeDense, (rows + 31) / 32, 1, 1, 32, 0, "route_dense");
        endOp("route_dense");
    }

    // -Dtandem.cuda.hostRouting=true routes prompts from their logits on the host, for A/B runs
    private static final boolean ROUTE_ON_DEVICE = !Boolean.getBoolean("tandem.cuda.hostRouting");

    /**
     * route_dense writing only each row's picks, (rows, k) expert indices then (rows, k) weights,
     * copied to the host in one DMA: 8·k bytes a row instead of the dense gates, and nothing left
     * for the host to select while the device waits.
     */
    @Override
    public boolean routeToHost(Activations logits, int topK, float normP, int rows, int[] expert, float[] weight) {
        CudaActivations l = cuda(logits);
        if (!ROUTE_ON_DEVICE || l.cols() > MAX_EXPERTS || topK > l.cols() || !ops.live()) {
            return false;
        }
        bind();
        int picks = rows * topK;
        long bytes = 8L * picks;
        long chosen = scratch(bytes);
        args.reset().p(0).i(0).p(l.pointer()).i(l.stride()).i(rows).i(l.cols()).i(topK).f(normP).p(chosen)
                .p(chosen + 4L * picks);
        beginOp();
        ops.launch(k.routeDense, (rows + 31) / 32, 1, 1, 32, 0, "route_dense");
        endOp("route_dense (picks)");
        MemorySegment host = hostOut(bytes);
        ops.copyToHost(host, chosen, bytes);
        drain();
        MemorySegment.copy(host, ValueLayout.JAVA_INT, 0, expert, 0, picks);
        MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, 4L * picks, weight, 0, picks);
        mark("routing picks copied");
        return true;
    }

    /** See {@link CudaExperts}. */
    @Override
    public void expertsFromGates(Activations out, Activations x, Activations gates, int topK, DeviceWeight[] gateUp,
                                 DeviceWeight[] down, int rows) {
        bind();
        experts.run(out, x, gates, topK, gateUp, down, rows);
    }

    @Override
    public int routedExpertsMaxRows() {
        return bf16 ? ROUTED_MAX_ROWS : 0;
    }

    @Override
    public int expertsFromGatesMaxRows() {
        return bf16 && batchedGemm ? DENSE_MOE_MAX_ROWS : 0;
    }

    /** Decode-sized batches run the MoE dense (see {@code DecoderModel}): no host round trip a layer. */
    @Override
    public int denseMoeMaxRows() {
        return DENSE_MOE_MAX_ROWS;
    }

    @Override
    public void add(Activations acc, Activations x, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations a = cuda(acc);
        CudaActivations b = cuda(x);
        written(a, rows);
        args.reset().p(a.pointer()).i(a.stride()).p(b.pointer()).i(b.stride()).i(a.cols());
        if (rowsOf16Bytes(a) && rowsOf16Bytes(b)) {
            launchRows(k.add4, rows, a.cols() / 4, "add_rows");
        } else {
            launchRows(k.add, rows, a.cols(), "add_rows");
        }
    }

    @Override
    public void gatherRows(Activations out, Activations in, int[] rowIndex, int rows) {
        if (rows == 0) {
            return;
        }
        mark("gatherRows called");
        bind();
        CudaActivations o = cuda(out);
        CudaActivations src = cuda(in);
        long index = hostArgs.ints(rowIndex, rows);
        written(o, rows);
        long copy = producedBf16Copy(o, rows);
        mark("gather's arguments ready");
        args.reset().p(o.pointer()).i(o.stride()).p(src.pointer()).i(src.stride()).p(index).i(src.cols()).p(copy);
        if (rowsOf16Bytes(o) && rowsOf16Bytes(src)) {
            launchRows(k.gather4, rows, src.cols() / 4, "gather_rows");
        } else {
            launchRows(k.gather, rows, src.cols(), "gather_rows");
        }
    }

    @Override
    public void scatterAddScaled(Activations acc, Activations in, int[] rowIndex, float[] scale, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations a = cuda(acc);
        CudaActivations src = cuda(in);
        long index = hostArgs.ints(rowIndex, rows);
        long scales = hostArgs.floats(scale, rows);
        copies.clear(); // scattered rows: any row of acc may change
        args.reset().p(a.pointer()).i(a.stride()).p(src.pointer()).i(src.stride()).p(index).p(scales).i(a.cols());
        launchRows(k.scatterAddScaled, rows, a.cols(), "scatter_add_scaled");
    }

    @Override
    public void zero(Activations x, int rows) {
        if (rows == 0) {
            return;
        }
        bind();
        CudaActivations a = cuda(x);
        written(a, rows);
        args.reset().p(a.pointer()).i(a.stride()).i(a.cols());
        launchRows(k.zero, rows, a.cols(), "zero_rows");
    }

    /** On the device (kernels.cu's sample_rows); only the draws go in and the token ids come out. */
    @Override
    public void sampleRows(Activations logits, int rows, float[] temperature, float[] topP, int[] topK, float[] minP,
                           float[] uniform, int[] out) {
        bind();
        CudaActivations a = cuda(logits);
        if (rows > 0) {
            long t = hostArgs.floats(temperature, rows);
            long p = hostArgs.floats(topP, rows);
            long kk = hostArgs.ints(topK, rows);
            long mp = hostArgs.floats(minP, rows);
            long u = hostArgs.floats(uniform, rows);
            long ids = scratch(4L * rows);
            args.reset().p(ids).p(a.pointer()).i(a.stride()).i(a.cols()).p(t).p(p).p(kk).p(mp).p(u);
            beginOp();
            ops.launch(k.sampleRows, rows, 1, 1, SAMPLE_THREADS, 0, "sample_rows");
            endOp("sample_rows");
            ops.copyToHost(hostOut(4L * rows), ids, 4L * rows);
        }
        if (!ops.live()) {
            defer(out, null, rows);
            return;
        }
        drain();
        if (rows > 0) {
            MemorySegment.copy(hostOut, ValueLayout.JAVA_INT, 0, out, 0, rows);
        }
    }

    @Override
    public void copyToHost(Activations src, int rows, float[] dst) {
        bind();
        CudaActivations a = cuda(src);
        long bytes = 4L * rows * a.cols();
        if (rows > 0) {
            long from = a.pointer();
            if (!a.contiguous()) {
                from = scratch(bytes);
                args.reset().p(from).p(a.pointer()).i(a.stride()).i(a.cols());
                launchRows(k.packRows, rows, a.cols(), "pack_rows");
            }
            ops.copyToHost(hostOut(bytes), from, bytes);
        }
        if (!ops.live()) {
            defer(null, dst, rows * a.cols());
            return;
        }
        drain();
        if (rows > 0) {
            MemorySegment.copy(hostOut, ValueLayout.JAVA_FLOAT, 0, dst, 0, rows * a.cols());
        }
    }

    /**
     * A graph step may end with one copy back; it lands once the graph has run
     * ({@link #finishDeferred}). A second one would need a wait inside the step.
     */
    private void defer(int[] ids, float[] values, int count) {
        if (deferredIds != null || deferredValues != null) {
            ops.notInGraph();
        }
        deferredIds = ids;
        deferredValues = values;
        deferredCount = count;
    }

    /** After a graph launch: waits for it and delivers the step's copy back. */
    void finishDeferred() {
        drain();
        if (deferredCount > 0) {
            if (deferredIds != null) {
                MemorySegment.copy(hostOut, ValueLayout.JAVA_INT, 0, deferredIds, 0, deferredCount);
            } else if (deferredValues != null) {
                MemorySegment.copy(hostOut, ValueLayout.JAVA_FLOAT, 0, deferredValues, 0, deferredCount);
            }
        }
        clearDeferred();
    }

    private void clearDeferred() {
        deferredIds = null;
        deferredValues = null;
        deferredCount = 0;
    }

    /**
     * Undoes what a traced pass left on the host (claimed arguments, bf16 copies it took as made,
     * a deferred copy); only while the stream is idle.
     */
    void resetStepState() {
        hostArgs.reset();
        copies.clear();
        clearDeferred();
    }

    /**
     * Decode-shaped steps ({@code graphKey ≥ 0}) run through {@link StepGraphs}: captured once per
     * key, then replayed while they enqueue the same work.
     */
    @Override
    public void runStep(int graphKey, Runnable step) {
        if (graphs == null || !graphsOn || graphKey < 0) {
            step.run();
            return;
        }
        bind();
        graphs.run(graphKey, step);
    }

    /** Turns graph replay of decode steps on (the default unless {@code -Dtandem.cuda.graphs=false}) or off. */
    public void useGraphs(boolean on) {
        graphsOn = on;
    }

    /** How the graph steps went (replays, captures, live runs); null when graphs are off. */
    public String graphStats() {
        return graphs == null ? null : graphs.stats();
    }

    long graphReplays() {
        return graphs == null ? 0 : graphs.replays();
    }

    long graphCaptures() {
        return graphs == null ? 0 : graphs.captures();
    }

    /** The device writes to host-mapped rows asynchronously: the host reads them after the stream drains. */
    @Override
    public void awaitWrites() {
        synchronize();
    }

    /** Waits for everything enqueued; the argument area is free again afterwards. */
    public void synchronize() {
        bind();
        drain();
    }

    void drain() {
        ops.notInGraph();
        driver.synchronize(stream);
        hostArgs.reset();
        copies.clear();
        if (profiler != null) {
            profiler.collect();
            profiler.drained();
        }
    }

    /**
     * A per-row kernel on a grid of (rows, column blocks): enough column blocks that even one
     * row keeps {@link #rowTargetBlocks} blocks busy, never more than the columns need.
     */
    void launchRows(MemorySegment kernel, int rows, int cols, String name) {
        beginOp();
        ops.launch(kernel, rows, columnBlocks(rows, cols), 1, ROW_THREADS, 0, name);
        endOp(name);
    }

    /** {@link #launchRows} on one of the {@link ExpertLanes}' streams (live, unprofiled). */
    void launchRowsOn(MemorySegment sideStream, MemorySegment kernel, int rows, int cols, String name) {
        driver.launch(kernel, rows, columnBlocks(rows, cols), 1, ROW_THREADS, 0, sideStream, args.pointers, name);
    }

    private int columnBlocks(int rows, int cols) {
        int columnBlocks = Math.max(1, Math.min((cols + ROW_THREADS - 1) / ROW_THREADS,
                (rowTargetBlocks + rows - 1) / rows));
        return Math.min(columnBlocks, 65_535);
    }

    // -Dtandem.cuda.expertLanes=N: side streams a prompt's experts run on (1: the main stream only)
    static final int EXPERT_LANES = Integer.getInteger("tandem.cuda.expertLanes", 4);
    private ExpertLanes lanes;

    /**
     * The experts' side streams, made at first use; null where they are off, while a graph is
     * traced, or while kernels are profiled (the profiler times the main stream).
     */
    ExpertLanes expertLanes() {
        if (EXPERT_LANES < 2 || profiler != null || !ops.live()) {
            return null;
        }
        if (lanes == null) {
            long[] workspaces = new long[EXPERT_LANES];
            for (int i = 0; i < workspaces.length; i++) {
                workspaces[i] = allocateDevice(CUBLAS_WORKSPACE, "the cuBLAS workspace of an expert lane");
            }
            lanes = new ExpertLanes(driver, cublas, stream, workspaces, CUBLAS_WORKSPACE);
        }
        return lanes;
    }

    /** A kernel that reduces each row: one block a row. */
    private void launchNorm(MemorySegment kernel, int rows) {
        beginOp();
        ops.launch(kernel, rows, 1, 1, NORM_THREADS, 0, "norm");
        endOp("norm");
    }

    /** See {@link KernelProfiler#mark}; nothing while not profiling. */
    private void mark(String name) {
        if (profiler != null) {
            profiler.mark(name);
        }
    }

    void beginOp() {
        if (profiler != null) {
            if (profiler.full()) {
                drain();
            }
            profiler.begin();
        }
    }

    void endOp(String name) {
        if (profiler != null) {
            profiler.end(name);
        }
    }

    /** Device time per operation since the last reset ({@code -Dtandem.cuda.profile=true}); null when off. */
    public String profileReport() {
        if (profiler == null) {
            return null;
        }
        synchronize();
        return profiler.report();
    }

    public void profileReset() {
        if (profiler != null) {
            synchronize();
            profiler.reset();
        }
    }

    /** Device scratch of at least {@code bytes}; growing it waits for the work that may still read it. */
    long scratch(long bytes) {
        if (bytes > scratchBytes) {
            drain();
            if (scratch != 0) {
                release(scratch);
            }
            scratchBytes = Math.max(bytes, 2 * scratchBytes);
            scratch = allocateDevice(scratchBytes, "scratch space");
        }
        return scratch;
    }

    private MemorySegment hostOut(long bytes) {
        if (hostOut.byteSize() < bytes) {
            drain();
            if (hostOut.byteSize() > 0) {
                driver.freeHost(hostOut);
            }
            hostOut = driver.hostAlloc(Math.max(bytes, 2 * hostOut.byteSize()));
        }
        return hostOut;
    }

    /** Whether every row of {@code a} starts 16-byte aligned and holds whole float4s (the COLUMNS4 kernels). */
    private static boolean rowsOf16Bytes(CudaActivations a) {
        return a.cols() % 4 == 0 && a.stride() % 4 == 0 && a.pointer() % 16 == 0;
    }

    static CudaActivations cuda(Activations a) {
        return (CudaActivations) a;
    }

    /** Idempotent: a model and its loader may both close the backend they share. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        boundThread = Thread.currentThread();
        try {
            driver.synchronize(stream);
        } finally {
            for (CudaDeviceCopies c : deviceCopies) {
                c.close();
            }
            if (graphs != null) {
                graphs.close();
            }
            if (lanes != null) {
                lanes.close();
            }
            cublas.destroy(blas);
            for (MemorySegment m : registered) {
                try {
                    driver.hostUnregister(m);
                } catch (CudaException e) { // memory unmapped before this close: nothing left to unpin
                    log.accept("host memory at 0x" + Long.toHexString(m.address()) + " not unregistered: "
                            + e.getMessage());
                }
            }
            for (long p : allocations.keySet()) {
                driver.free(p);
            }
            hostArgs.close();
            uploader.close();
            if (profiler != null) {
                profiler.close();
            }
            if (hostOut.byteSize() > 0) {
                driver.freeHost(hostOut);
            }
            driver.destroyStream(stream);
            arena.close();
            device.close();
        }
    }
}
