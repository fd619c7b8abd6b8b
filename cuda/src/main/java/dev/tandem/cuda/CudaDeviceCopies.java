package dev.tandem.cuda;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.cuda.bind.CudaDriver;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A transport's DMAs between a backend's device rows and host memory the transport owns, on a
 * stream of their own: what the compute stream does meanwhile overlaps with them, and
 * {@link #afterCompute} orders them after the kernels that wrote their rows by an event, not a
 * wait on the host. Where the driver has {@code cuMemcpyBatchAsync}, the copies queued between
 * two points where someone waits ({@link #mark}, {@link #await}, {@link #afterCompute}) go to the
 * driver in one call, each fragment of a strided run one entry: what a call costs (some µs, of
 * the order of a 256 KB fragment's DMA) is paid once a send, not once a run.
 * Otherwise (or with {@code -Dtandem.cuda.copyBatch=false}) strided copies go as one
 * {@code cuMemcpy2DAsync}, one run a call.
 * <p>
 * Registrations are process-wide (portable page-locking), so they are counted process-wide: an
 * Aeron log that two endpoints of one process meet (IPC publisher and subscriber) is locked once
 * and unlocked by the last. Memory some other part of the process locked already is used as it
 * is and never unlocked here.
 */
final class CudaDeviceCopies implements DeviceCopies {
    private static final Map<Long, long[]> LOCKED = new HashMap<>(); // address → {count, bytes, ours (1/0)}

    // CUDA_MEMCPY2D field offsets (cuda.h): srcXInBytes, srcY at 0, 8; the enums padded to 8 bytes
    private static final long SRC_MEMORY_TYPE = 16, SRC_HOST = 24, SRC_DEVICE = 32, SRC_PITCH = 48;
    private static final long DST_MEMORY_TYPE = 72, DST_HOST = 80, DST_DEVICE = 88, DST_PITCH = 104;
    private static final long WIDTH = 112, HEIGHT = 120;
    private static final int MARKS = 16; // marks outstanding at once; an older one waits for everything
    private static final int BATCH = 1024; // copies a batch call takes at most; a fuller queue goes in several

    private final CudaBackend backend;
    private final CudaDriver driver;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment params;   // one CUDA_MEMCPY2D, refilled for every strided copy
    private final MemorySegment stream;   // the copies' own
    private final MemorySegment computeDone;
    private final MemorySegment[] marks = new MemorySegment[MARKS]; // events recorded in turn by mark()
    private long marksTaken;
    private final List<long[]> mine = new ArrayList<>(); // {address, bytes} registered through this object
    private boolean closed;
    private boolean rowByRow; // the driver refused a strided copy once: every run goes a row a call
    private boolean batching; // queue copies and hand them to cuMemcpyBatchAsync together
    private final MemorySegment batchDsts, batchSrcs, batchSizes, batchAttrs, batchAttrIndex, batchFailIndex;
    private int batched; // copies in the batch arrays, not yet handed to the driver

    CudaDeviceCopies(CudaBackend backend, CudaDriver driver) {
        this.backend = backend;
        this.driver = driver;
        this.params = arena.allocate(CudaDriver.MEMCPY2D_BYTES, 8);
        this.stream = driver.createStream();
        this.computeDone = driver.createOrderingEvent();
        for (int i = 0; i < MARKS; i++) {
            marks[i] = driver.createOrderingEvent();
        }
        this.batching = driver.hasCopyBatch() && Boolean.parseBoolean(System.getProperty("tandem.cuda.copyBatch", "true"));
        this.batchDsts = arena.allocate(8L * BATCH, 8);
        this.batchSrcs = arena.allocate(8L * BATCH, 8);
        this.batchSizes = arena.allocate(8L * BATCH, 8);
        this.batchAttrs = arena.allocate(CudaDriver.MEMCPY_ATTRIBUTES_BYTES, 8); // zero: no location hints
        this.batchAttrIndex = arena.allocate(8, 8);                            // zero: it applies from the first copy
        this.batchFailIndex = arena.allocate(8, 8);
        batchAttrs.set(JAVA_INT, 0, CudaDriver.CU_MEMCPY_SRC_ACCESS_ORDER_STREAM); // after what the stream did before
        batchAttrs.set(JAVA_INT, 20, Integer.getInteger("tandem.cuda.copyBatchFlags", 0));
    }

    /** Whether copies go to the driver in batches ({@code cuMemcpyBatchAsync}). */
    boolean batching() {
        return batching;
    }

    @Override
    public boolean register(long address, long bytes) {
        synchronized (LOCKED) {
            long[] entry = LOCKED.get(address);
            if (entry == null) {
                int rc = driver.hostRegister(address, bytes);
                if (rc != 0 && rc != CudaDriver.CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) {
                    return false;
                }
                entry = new long[]{0, bytes, rc == 0 ? 1 : 0};
                LOCKED.put(address, entry);
            }
            entry[0]++;
        }
        mine.add(new long[]{address, bytes});
        return true;
    }

    @Override
    public void unregister(long address, long bytes) {
        for (int i = mine.size() - 1; i >= 0; i--) {
            if (mine.get(i)[0] == address) {
                mine.remove(i);
                release(address);
                return;
            }
        }
    }

    private void release(long address) {
        synchronized (LOCKED) {
            long[] entry = LOCKED.get(address);
            if (entry != null && --entry[0] == 0) {
                LOCKED.remove(address);
                if (entry[2] == 1) {
                    driver.hostUnregister(address); // a log unmapped already gives an error: nothing is left to undo
                }
            }
        }
    }

    @Override
    public long address(Activations rows) {
        CudaActivations a = (CudaActivations) rows;
        if (a.hostMapped() || !a.contiguous()) {
            throw new IllegalArgumentException("device copies move contiguous device rows, not " + a);
        }
        return a.pointer();
    }

    @Override
    public void afterCompute() {
        submitBatch(); // what was queued before need not wait for the kernels
        driver.record(computeDone, backend.computeStreamForCopies());
        driver.waitEvent(stream, computeDone);
    }

    @Override
    public void toHost(long host, long hostPitch, long device, long width, int rows) {
        strided(false, host, hostPitch, device, width, rows);
    }

    @Override
    public void toDevice(long device, long host, long hostPitch, long width, int rows) {
        strided(true, host, hostPitch, device, width, rows);
    }

    /** {@code rows} of {@code width} bytes, contiguous on the device and {@code hostPitch} apart on the host. */
    private void strided(boolean toDevice, long host, long hostPitch, long device, long width, int rows) {
        backend.bindForCopies();
        if (batching) {
            for (int r = 0; r < rows; r++) {
                long h = host + r * hostPitch, d = device + r * width;
                enqueue(toDevice ? d : h, toDevice ? h : d, width);
            }
            return;
        }
        if (rows == 1) {
            driver.copy(toDevice ? device : host, toDevice ? host : device, width, stream);
            return;
        }
        params.fill((byte) 0);
        long hostSide = toDevice ? 0 : DST_MEMORY_TYPE - SRC_MEMORY_TYPE; // the dst fields lie this far past the src ones
        long deviceSide = toDevice ? DST_MEMORY_TYPE - SRC_MEMORY_TYPE : 0;
        params.set(JAVA_INT, SRC_MEMORY_TYPE + hostSide, CudaDriver.CU_MEMORYTYPE_HOST);
        params.set(JAVA_LONG, SRC_HOST + hostSide, host);
        params.set(JAVA_LONG, SRC_PITCH + hostSide, hostPitch);
        params.set(JAVA_INT, SRC_MEMORY_TYPE + deviceSide, CudaDriver.CU_MEMORYTYPE_DEVICE);
        params.set(JAVA_LONG, SRC_DEVICE + deviceSide, device);
        params.set(JAVA_LONG, SRC_PITCH + deviceSide, width);
        copy2D(width, rows);
    }

    private void copy2D(long width, int rows) {
        params.set(JAVA_LONG, WIDTH, width);
        params.set(JAVA_LONG, HEIGHT, rows);
        if (!rowByRow) {
            try {
                driver.copy2D(params, stream);
                return;
            } catch (dev.tandem.cuda.bind.CudaException e) {
                rowByRow = true; // from now on, a copy a row
                backend.log("cuMemcpy2DAsync refused " + rows + " rows of " + width + " B (host 0x"
                        + Long.toHexString(hostOf(params)) + " pitch " + hostPitchOf(params) + ", device 0x"
                        + Long.toHexString(deviceOf(params)) + "): " + e.getMessage() + "; copying a row a call");
            }
        }
        boolean toDevice = params.get(JAVA_INT, DST_MEMORY_TYPE) == CudaDriver.CU_MEMORYTYPE_DEVICE;
        long host = hostOf(params), pitch = hostPitchOf(params), device = deviceOf(params);
        for (int r = 0; r < rows; r++) {
            if (toDevice) {
                driver.copy(device + r * width, host + r * pitch, width, stream);
            } else {
                driver.copy(host + r * pitch, device + r * width, width, stream);
            }
        }
    }

    private void enqueue(long dst, long src, long bytes) {
        if (bytes == 0) {
            return; // nothing to move, and a batch refuses an empty copy
        }
        if (batched == BATCH) {
            submitBatch();
        }
        batchDsts.setAtIndex(JAVA_LONG, batched, dst);
        batchSrcs.setAtIndex(JAVA_LONG, batched, src);
        batchSizes.setAtIndex(JAVA_LONG, batched, bytes);
        batched++;
    }

    /** Hand the queued copies to the driver in one call; a refusal turns batching off, and they go one a call. */
    private void submitBatch() {
        if (batched == 0) {
            return;
        }
        backend.bindForCopies();
        int count = batched;
        batched = 0;
        try {
            driver.copyBatch(batchDsts, batchSrcs, batchSizes, count, batchAttrs, batchAttrIndex, 1, batchFailIndex, stream);
            return;
        } catch (dev.tandem.cuda.bind.CudaException e) {
            batching = false;
            backend.log("cuMemcpyBatchAsync refused " + count + " copies: " + e.getMessage() + "; copying a run a call");
        }
        for (int i = 0; i < count; i++) {
            driver.copy(batchDsts.getAtIndex(JAVA_LONG, i), batchSrcs.getAtIndex(JAVA_LONG, i),
                    batchSizes.getAtIndex(JAVA_LONG, i), stream);
        }
    }

    private static long hostOf(MemorySegment p) {
        return p.get(JAVA_INT, SRC_MEMORY_TYPE) == CudaDriver.CU_MEMORYTYPE_HOST ? p.get(JAVA_LONG, SRC_HOST) : p.get(JAVA_LONG, DST_HOST);
    }

    private static long hostPitchOf(MemorySegment p) {
        return p.get(JAVA_INT, SRC_MEMORY_TYPE) == CudaDriver.CU_MEMORYTYPE_HOST ? p.get(JAVA_LONG, SRC_PITCH) : p.get(JAVA_LONG, DST_PITCH);
    }

    private static long deviceOf(MemorySegment p) {
        return p.get(JAVA_INT, SRC_MEMORY_TYPE) == CudaDriver.CU_MEMORYTYPE_DEVICE ? p.get(JAVA_LONG, SRC_DEVICE) : p.get(JAVA_LONG, DST_DEVICE);
    }

    @Override
    public long mark() {
        submitBatch();
        backend.bindForCopies();
        long mark = marksTaken++;
        driver.record(marks[(int) (mark % MARKS)], stream);
        return mark;
    }

    @Override
    public void awaitMark(long mark) {
        if (mark < marksTaken - MARKS) {
            await(); // its event was recorded again since: wait for everything instead
            return;
        }
        backend.bindForCopies();
        driver.synchronizeEvent(marks[(int) (mark % MARKS)]);
    }

    @Override
    public void await() {
        submitBatch();
        backend.bindForCopies();
        driver.synchronize(stream);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        submitBatch();
        backend.bindForCopies();
        driver.synchronize(stream);
        for (int i = mine.size() - 1; i >= 0; i--) {
            release(mine.get(i)[0]);
        }
        mine.clear();
        driver.destroyEvent(computeDone);
        for (MemorySegment event : marks) {
            driver.destroyEvent(event);
        }
        driver.destroyStream(stream);
        arena.close();
    }
}
