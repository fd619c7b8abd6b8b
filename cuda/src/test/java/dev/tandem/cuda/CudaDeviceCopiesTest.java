package dev.tandem.cuda;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.Bf16;
import dev.tandem.core.compute.DeviceCopies;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The transport's DMAs ({@link CudaDeviceCopies}): device rows out to host memory a header apart
 * and back, strided and whole, through a MAP_SHARED file mapping page-locked as an Aeron log is
 * and through pageable memory; counted registration; bf16 rows rounded and widened on the device
 * against the host's round-to-nearest-even.
 */
@Tag("gpu")
@ExtendWith(RequiresCuda.class)
class CudaDeviceCopiesTest {
    private static final int WIDTH = 8160;  // an 8 KiB fragment's payload
    private static final int PITCH = 8192;  // its header and payload in a log
    private static final int PIECES = 9;

    /**
     * A mark waits for what was queued before it: 40 copies of 4 MB each, a mark after every one
     * (more marks than events, so the oldest events are recorded again), then each mark awaited in
     * turn: the copy before it must be on the host, its bytes the device's.
     */
    @Test
    void shouldAwaitTheCopiesQueuedBeforeAMark() {
        int copiesQueued = 40;
        int floats = 1 << 20;
        long bytes = (long) floats * Float.BYTES;
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), false, System.err::println);
             Arena arena = Arena.ofShared()) {
            DeviceCopies copies = gpu.openCopies();
            Activations rows = gpu.allocate(1, floats);
            MemorySegment source = arena.allocate(bytes, 64);
            for (int i = 0; i < floats; i++) {
                source.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f + 3);
            }
            gpu.copyRows(rows, gpu.wrapHost(source, 1, floats), 1);
            gpu.awaitWrites();
            MemorySegment host = arena.allocate(bytes * copiesQueued, 4096);
            assertTrue(copies.register(host.address(), host.byteSize()));
            long[] marks = new long[copiesQueued];
            copies.afterCompute();
            for (int c = 0; c < copiesQueued; c++) {
                copies.toHost(host.address() + c * bytes, bytes, copies.address(rows), bytes, 1);
                marks[c] = copies.mark();
            }
            for (int c = 0; c < copiesQueued; c++) {
                copies.awaitMark(marks[c]);
                assertEquals(-1L, MemorySegment.mismatch(host, c * bytes, (c + 1) * bytes, source, 0, bytes),
                        "copy " + c + " done once its mark is awaited");
            }
            copies.close();
        }
    }

    @Test
    void shouldCopyStridedPiecesThroughASharedMappingAndBack() throws IOException {
        Path file = Files.createTempFile(Path.of(Files.isDirectory(Path.of("/dev/shm")) ? "/dev/shm" : "/tmp"), "log", ".bin");
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), false, System.err::println);
             RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw");
             FileChannel channel = raf.getChannel();
             Arena arena = Arena.ofShared()) {
            long logBytes = (long) PITCH * (PIECES + 1);
            MemorySegment log = channel.map(FileChannel.MapMode.READ_WRITE, 0, logBytes, arena);
            DeviceCopies copies = gpu.openCopies();
            assertTrue(copies.register(log.address(), logBytes), "a MAP_SHARED mapping page-locks");
            assertTrue(copies.register(log.address(), logBytes), "twice: counted");

            int floats = WIDTH * PIECES / Float.BYTES;
            Activations rows = gpu.allocate(1, floats);
            Activations back = gpu.allocate(1, floats);
            MemorySegment source = arena.allocate((long) floats * Float.BYTES, 64);
            for (int i = 0; i < floats; i++) {
                source.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.25f - 7);
            }
            gpu.copyRows(rows, gpu.wrapHost(source, 1, floats), 1);
            gpu.awaitWrites();

            copies.afterCompute();
            copies.toHost(log.address() + 32, PITCH, copies.address(rows), WIDTH, PIECES);
            copies.await();
            for (int p = 0; p < PIECES; p++) {
                assertEquals(-1L, MemorySegment.mismatch(log, 32L + (long) p * PITCH, 32L + (long) p * PITCH + WIDTH,
                        source, (long) p * WIDTH, (long) (p + 1) * WIDTH), "piece " + p);
            }
            copies.toDevice(copies.address(back), log.address() + 32, PITCH, WIDTH, PIECES);
            copies.await();
            float[] out = new float[floats];
            gpu.copyToHost(back, 1, out);
            for (int i = 0; i < floats; i++) {
                assertEquals(i * 0.25f - 7, out[i], "element " + i);
            }
            copies.unregister(log.address(), logBytes);
            copies.unregister(log.address(), logBytes);
            assertTrue(copies.register(log.address(), logBytes), "locked again after both unlocks");
            copies.close();
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    void shouldCopyAFramesMiddleFragmentsAsAnAeronEndpointDoes() {
        // 30 fragments' payloads a header apart in one page-locked term, from device rows at an odd offset
        int pieces = 30;
        long deviceOffset = 6560;
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), false, System.err::println);
             Arena arena = Arena.ofShared()) {
            DeviceCopies copies = gpu.openCopies();
            long termBytes = 1 << 20;
            MemorySegment term = arena.allocate(termBytes, 4096);
            assertTrue(copies.register(term.address(), termBytes));
            int floats = (int) ((deviceOffset + (long) WIDTH * pieces) / 4);
            Activations rows = gpu.allocate(1, floats);
            MemorySegment source = arena.allocate(4L * floats, 64);
            for (int i = 0; i < floats; i++) {
                source.setAtIndex(ValueLayout.JAVA_INT, i, i * 31 + 7);
            }
            gpu.copyRows(rows, gpu.wrapHost(source, 1, floats), 1);
            copies.afterCompute();
            long at = 3 * PITCH + 32;
            copies.toHost(term.address() + at, PITCH, copies.address(rows) + deviceOffset, WIDTH, pieces);
            copies.await();
            for (int p = 0; p < pieces; p++) {
                assertEquals(-1L, MemorySegment.mismatch(term, at + (long) p * PITCH, at + (long) p * PITCH + WIDTH,
                        source, deviceOffset + (long) p * WIDTH, deviceOffset + (long) (p + 1) * WIDTH), "piece " + p);
            }
            Activations back = gpu.allocate(1, floats);
            copies.toDevice(copies.address(back) + deviceOffset, term.address() + at, PITCH, WIDTH, pieces);
            copies.await();
            int[] out = new int[floats];
            float[] asFloats = new float[floats];
            gpu.copyToHost(back, 1, asFloats);
            for (int i = (int) (deviceOffset / 4); i < floats; i++) {
                out[i] = Float.floatToRawIntBits(asFloats[i]);
                assertEquals(i * 31 + 7, out[i], "element " + i);
            }
        }
    }

    @Test
    void shouldCopyThroughPageableMemoryToo() {
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), false, System.err::println);
             Arena arena = Arena.ofShared()) {
            DeviceCopies copies = gpu.openCopies();
            Activations rows = gpu.allocate(3, 256);
            MemorySegment host = arena.allocate(3 * 256 * 4 + 3 * 64, 64); // never registered
            MemorySegment source = arena.allocate(3 * 256 * 4, 64);
            for (int i = 0; i < 3 * 256; i++) {
                source.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
            }
            gpu.copyRows(rows, gpu.wrapHost(source, 3, 256), 3);
            copies.afterCompute(); // ordered after the upload by the event, no host wait
            copies.toHost(host.address(), 1024 + 64, copies.address(rows), 1024, 3);
            copies.await();
            for (int r = 0; r < 3; r++) {
                assertEquals(-1L, MemorySegment.mismatch(host, r * 1088L, r * 1088L + 1024, source, r * 1024L, r * 1024L + 1024),
                        "row " + r);
            }
        }
    }

    @Test
    void shouldRoundToBf16AndWidenOnTheDeviceAsTheHostDoes() {
        try (CudaBackend gpu = new CudaBackend(CudaDevice.open(0), false, System.err::println);
             Arena arena = Arena.ofShared()) {
            int rows = 5;
            int cols = 96;
            MemorySegment source = arena.allocate((long) rows * cols * 4, 64);
            java.util.SplittableRandom random = new java.util.SplittableRandom(9);
            for (int i = 0; i < rows * cols; i++) {
                source.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (random.nextGaussian() * 3));
            }
            Activations x = gpu.allocate(rows, cols);
            Activations pairs = gpu.allocate(rows, cols / 2);
            Activations widened = gpu.allocate(rows, cols);
            gpu.copyRows(x, gpu.wrapHost(source, rows, cols), rows);
            gpu.roundToBf16(pairs, x, rows);
            gpu.widenFromBf16(widened, pairs, rows);
            float[] out = new float[rows * cols];
            gpu.copyToHost(widened, rows, out);
            for (int i = 0; i < rows * cols; i++) {
                float expected = Bf16.toFloat(Bf16.fromFloat(source.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
                assertEquals(expected, out[i], "element " + i);
            }
        }
    }
}
