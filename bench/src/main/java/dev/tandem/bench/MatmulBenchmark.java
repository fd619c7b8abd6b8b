package dev.tandem.bench;

import dev.tandem.core.checkpoint.TensorView;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.compute.cpu.CpuBackend;
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
import java.util.concurrent.TimeUnit;

/**
 * The decode-shape projection: one Mixtral-8x7B expert matrix, (14336, 4096) bf16 = 117 MB,
 * times a batch of fp32 rows, through the public backend API. At batch 1 this is a pure stream
 * of the weights, so its bytes per second compare directly with {@link MemoryBandwidthBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class MatmulBenchmark {
    @Param({"1", "8", "64"})
    public int batch;

    /** Kernel threads; 0 = one per available processor. */
    @Param("0")
    public int threads;

    private Arena arena;
    private CpuBackend backend;
    private DeviceWeight weight;  // (14336, 4096)
    private Activations in;       // (batch, 4096)
    private Activations out;      // (batch, 14336)
    private long weightBytes;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        backend = KernelSetup.backend(threads);
        TensorView w = Bf16Matrices.random(arena, "w1", Bf16Matrices.EXPERT_ROWS, Bf16Matrices.EXPERT_COLS, 0.02f, 1);
        weight = backend.weight(w);
        weightBytes = w.data().byteSize();
        in = KernelSetup.randomRows(backend, arena, batch, Bf16Matrices.EXPERT_COLS);
        out = backend.allocate(batch, Bf16Matrices.EXPERT_ROWS);
    }

    @Benchmark
    public void matmul(StreamedBytes streamed) {
        backend.matmul(out, in, weight, batch);
        streamed.bytes += weightBytes;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        arena.close();
    }
}
