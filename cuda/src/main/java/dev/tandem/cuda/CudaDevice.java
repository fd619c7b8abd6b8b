package dev.tandem.cuda;

import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.CudaUnavailableException;

import java.lang.foreign.MemorySegment;

/**
 * One CUDA device and its primary context (the one the runtime API and every library share).
 * Work on it needs the context current on the calling thread: {@link #makeCurrent}.
 */
public final class CudaDevice implements AutoCloseable {
    final CudaDriver driver;
    final int ordinal;
    final int handle;
    final MemorySegment context;
    private final String name;
    private final int computeMajor;
    private final int computeMinor;
    private final int multiprocessors;
    private boolean closed;

    private CudaDevice(CudaDriver driver, int ordinal) {
        this.driver = driver;
        this.ordinal = ordinal;
        this.handle = driver.device(ordinal);
        this.name = driver.deviceName(handle);
        this.computeMajor = driver.attribute(handle, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.computeMinor = driver.attribute(handle, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        this.multiprocessors = driver.attribute(handle, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        this.context = driver.retainPrimaryContext(handle);
        driver.setCurrent(context);
    }

    /** Device {@code ordinal} (cuda:N); a missing driver or device names what was looked for. */
    public static CudaDevice open(int ordinal) {
        CudaDriver driver = CudaDriver.get();
        int count = driver.deviceCount();
        if (count == 0) {
            throw new CudaUnavailableException("the CUDA driver (" + driver + ") sees no device");
        }
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaUnavailableException("cuda:" + ordinal + " asked for, but the driver sees " + count
                    + " device" + (count == 1 ? "" : "s") + " (cuda:0" + (count > 1 ? "..cuda:" + (count - 1) : "") + ")");
        }
        return new CudaDevice(driver, ordinal);
    }

    public void makeCurrent() {
        driver.setCurrent(context);
    }

    public String name() {
        return name;
    }

    public int computeMajor() {
        return computeMajor;
    }

    public int computeMinor() {
        return computeMinor;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    /** {free, total} bytes. */
    public long[] memoryInfo() {
        makeCurrent();
        return driver.memoryInfo();
    }

    @Override
    public String toString() {
        long[] memory = driver.memoryInfo();
        return String.format("cuda:%d (%s, sm_%d%d, %d SMs, %.1f of %.1f GiB free)", ordinal, name, computeMajor,
                computeMinor, multiprocessors, memory[0] / GIB, memory[1] / GIB);
    }

    static final double GIB = 1024.0 * 1024 * 1024;

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            driver.releasePrimaryContext(handle);
        }
    }
}
