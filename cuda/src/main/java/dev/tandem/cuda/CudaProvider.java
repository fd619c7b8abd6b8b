package dev.tandem.cuda;

import dev.tandem.core.compute.AcceleratorProvider;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.cuda.bind.CudaDriver;
import dev.tandem.cuda.bind.CudaUnavailableException;

import java.util.function.Consumer;

/** The CUDA backend for {@link dev.tandem.core.compute.BackendSpec}, registered as a service. */
public final class CudaProvider implements AcceleratorProvider {
    @Override
    public String kind() {
        return "cuda";
    }

    @Override
    public String unavailableReason() {
        try {
            CudaDriver driver = CudaDriver.get();
            return driver.deviceCount() == 0 ? "the CUDA driver (" + driver + ") sees no device" : null;
        } catch (CudaUnavailableException e) {
            return e.getMessage();
        }
    }

    @Override
    public ComputeBackend open(int ordinal, boolean bf16, double memoryShare, Consumer<String> log) {
        CudaDevice device = CudaDevice.open(ordinal);
        log.accept("device " + device + ", dtype " + (bf16 ? "bfloat16" : "float32")
                + (memoryShare > 0 ? String.format(", a share of %.2f of its memory", memoryShare) : ""));
        return new CudaBackend(device, bf16, memoryShare, log);
    }

    @Override
    public String describe(int ordinal) {
        try (CudaDevice device = CudaDevice.open(ordinal)) {
            return device.toString();
        }
    }
}
