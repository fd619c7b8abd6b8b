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
 * wait on the host. Strided copies go as one {@code cuMemcpy2DAsync}, one run a call.
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

    CudaDeviceCopies(CudaBackend backend, CudaDriver driver) {
        this.backend = backend;
        this.driver = driver;
        this.params = arena.allocate(CudaDriver.MEMCPY2D_BYTES, 8);
        this.stream = driver.createStream();
        this.computeDone = driver.createOrderingEvent();
        for (int i = 0; i < MARKS; i++) {
            marks[i] = driver.createOrderingEvent();
        }
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
        backend.bindForCopies();
        driver.synchronize(stream);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
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
