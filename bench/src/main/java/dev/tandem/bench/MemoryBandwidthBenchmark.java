package dev.tandem.bench;

import dev.tandem.core.compute.cpu.KernelPool;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
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
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

/**
 * The bound the kernels are measured against: a read-only sum over an off-heap buffer the size
 * of one expert matrix (117 MB), on a {@link KernelPool} of the same thread count as the
 * kernels, in chunks handed out the same way. Integer adds, four independent accumulators, so
 * that nothing but the loads limits it.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class MemoryBandwidthBenchmark implements KernelPool.Task {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final long CHUNK = 256 * 1024; // bytes per task: 16 expert rows' worth of bf16, twice over
    private static final int UNROLL = 4;

    /** Kernel threads; 0 = one per available processor. */
    @Param("0")
    public int threads;

    private Arena arena;
    private KernelPool pool;
    private MemorySegment buffer;
    private long[] partialSums; // per worker, padded to its own cache line
    private int tasks;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        int n = KernelSetup.resolve(threads);
        pool = new KernelPool(n);
        buffer = Bf16Matrices.random(arena, "buffer", Bf16Matrices.EXPERT_ROWS, Bf16Matrices.EXPERT_COLS, 1f, 4).data();
        partialSums = new long[n * 16];
        tasks = (int) ((buffer.byteSize() + CHUNK - 1) / CHUNK);
    }

    @Benchmark
    public long readSum(StreamedBytes streamed) {
        pool.run(tasks, this);
        long sum = 0;
        for (int w = 0; w < partialSums.length; w += 16) {
            sum += partialSums[w];
        }
        streamed.bytes += buffer.byteSize();
        return sum;
    }

    @Override
    public void run(int task, int worker) {
        long start = task * CHUNK;
        long end = Math.min(start + CHUNK, buffer.byteSize());
        long step = I.vectorByteSize();
        long bound = start + (end - start) / (UNROLL * step) * (UNROLL * step);
        IntVector a0 = IntVector.zero(I), a1 = a0, a2 = a0, a3 = a0;
        long i = start;
        for (; i < bound; i += UNROLL * step) {
            a0 = a0.add(IntVector.fromMemorySegment(I, buffer, i, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(IntVector.fromMemorySegment(I, buffer, i + step, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(IntVector.fromMemorySegment(I, buffer, i + 2 * step, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(IntVector.fromMemorySegment(I, buffer, i + 3 * step, ByteOrder.LITTLE_ENDIAN));
        }
        long sum = a0.add(a1).add(a2.add(a3)).reduceLanesToLong(VectorOperators.ADD);
        for (; i < end; i++) {
            sum += buffer.get(ValueLayout.JAVA_BYTE, i);
        }
        partialSums[worker * 16] += sum;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }
}
