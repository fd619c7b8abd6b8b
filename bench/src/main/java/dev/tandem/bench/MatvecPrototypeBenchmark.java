package dev.tandem.bench;

import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.cpu.KernelPool;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The investigation behind the kernel table: the batch-1 inner loop in isolation
 * ({@link MatvecPrototype}) over 117 MB of weights, bf16 or fp32. Run by
 * {@code tandem bench kernels --investigate}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class MatvecPrototypeBenchmark {
    static final String TRANSPOSED = "BF16_TRANSPOSED_ROWS";

    /** A {@link MatvecPrototype.Variant}, or {@code BF16_TRANSPOSED_ROWS} for {@link TransposedMatvecPrototype}. */
    @Param({"BF16_2ACC", "BF16_4ACC", "BF16_8ACC", "BF16_4ROWS", "FP32_4ACC", TRANSPOSED})
    public String variant;

    /** Kernel threads; 0 = one per available processor. */
    @Param("0")
    public int threads;

    private Arena arena;
    private KernelPool pool;
    private MatvecPrototype kernel;
    private TransposedMatvecPrototype transposed;
    private long weightBytes;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        pool = new KernelPool(KernelSetup.resolve(threads));
        TensorView w = Bf16Matrices.random(arena, "w", Bf16Matrices.EXPERT_ROWS, Bf16Matrices.EXPERT_COLS, 0.02f, 1);
        weightBytes = w.data().byteSize();
        if (variant.equals(TRANSPOSED)) {
            float[] x = randomVector(Bf16Matrices.EXPERT_ROWS);
            transposed = new TransposedMatvecPrototype(w.data(), w.rows(), w.cols(), x);
            transposed.run(pool);
            PrototypeCheck.againstBackend(w, x, true, transposed.out());
            return;
        }
        MatvecPrototype.Variant v = MatvecPrototype.Variant.valueOf(variant);
        boolean fp32 = v == MatvecPrototype.Variant.FP32_4ACC;
        // The same 117 MB either way: read as fp32, a row holds half as many weights.
        int cols = fp32 ? w.cols() / 2 : w.cols();
        float[] x = randomVector(cols);
        kernel = new MatvecPrototype(v, w.data(), w.rows(), cols, x);
        kernel.run(pool);
        if (!fp32) {
            PrototypeCheck.againstBackend(w, x, false, kernel.out());
        }
    }

    @Benchmark
    public float[] matvec(StreamedBytes streamed) {
        float[] out;
        if (transposed != null) {
            transposed.run(pool);
            out = transposed.out();
        } else {
            kernel.run(pool);
            out = kernel.out();
        }
        streamed.bytes += weightBytes;
        return out;
    }

    private static float[] randomVector(int n) {
        float[] x = new float[n];
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < n; i++) {
            x[i] = random.nextFloat() * 2f - 1f;
        }
        return x;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }
}
