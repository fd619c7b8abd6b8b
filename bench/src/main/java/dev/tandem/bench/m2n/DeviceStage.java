package dev.tandem.bench.m2n;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.transport.RowBatch;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;

/**
 * A batch's activations mirrored in device memory, for the M2N benchmark on a device: what an
 * attention or expert node on a GPU adds to the wire's work, one DMA each way between its device
 * rows and the batch the transport sends from or receives into. The rows are moved as bytes
 * (bf16 pairs seen as float32 columns), so nothing is converted. One per thread: a backend's
 * stream is not shared.
 */
final class DeviceStage implements AutoCloseable {
    private final ComputeBackend backend;
    private final Activations host;
    private final Activations device;

    private DeviceStage(BackendSpec spec, RowBatch batch) {
        backend = spec.open(line -> { });
        UnsafeBuffer activations = batch.activations();
        int cols = batch.rowBytes() / Float.BYTES;
        host = backend.wrapHost(MemorySegment.ofAddress(activations.addressOffset()).reinterpret(activations.capacity()),
                batch.capacityRows(), cols);
        device = backend.allocate(batch.capacityRows(), cols);
        backend.copyRows(device, host, batch.capacityRows()); // the device starts with the batch's random rows
        backend.awaitWrites();
    }

    /** A stage for {@code batch} on {@code spec}'s device, or null where the rows live in host memory (spec null). */
    static DeviceStage open(BackendSpec spec, RowBatch batch) {
        return spec == null ? null : new DeviceStage(spec, batch);
    }

    /** Device rows [0, rows) into the batch, done when this returns. */
    void toHost(int rows) {
        backend.copyRows(host, device, rows);
        backend.awaitWrites();
    }

    /** The batch's rows [0, rows) into the device rows, done when this returns. */
    void toDevice(int rows) {
        backend.copyRows(device, host, rows);
        backend.awaitWrites();
    }

    @Override
    public void close() {
        backend.close();
    }
}
