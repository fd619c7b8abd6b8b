package dev.tandem.bench.m2n;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.transport.RowBatch;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;

/**
 * A batch's activations in device memory, for the M2N benchmark on a device: the rows an
 * attention or expert node on a GPU sends from and receives into. By default the batch is
 * {@link RowBatch#onDevice on the device}, and the transport DMAs the rows between the device and
 * its own buffers; {@code -Dtandem.m2n.deviceRows=staged} measures the way before that, one DMA
 * each way between the device rows and the batch's host rows, which the transport then copies.
 * The rows are moved as bytes (bf16 pairs seen as float32 columns), so nothing is converted. One
 * per thread: a backend's stream is not shared.
 */
final class DeviceStage implements AutoCloseable {
    static final boolean STAGED = "staged".equals(System.getProperty("tandem.m2n.deviceRows"));

    private final ComputeBackend backend;
    private final Activations host;
    private final Activations device;
    private final boolean staged; // STAGED, or a backend without device copies (the CPU)

    private DeviceStage(BackendSpec spec, RowBatch batch) {
        backend = spec.open(line -> System.err.println("m2n: device: " + line));
        UnsafeBuffer activations = batch.activations();
        int cols = batch.rowBytes() / Float.BYTES;
        host = backend.wrapHost(MemorySegment.ofAddress(activations.addressOffset()).reinterpret(activations.capacity()),
                batch.capacityRows(), cols);
        device = backend.allocate(batch.capacityRows(), cols);
        backend.copyRows(device, host, batch.capacityRows()); // the device starts with the batch's random rows
        backend.awaitWrites();
        DeviceCopies copies = STAGED ? null : backend.openCopies();
        staged = copies == null;
        if (!staged) {
            batch.onDevice(copies, copies.address(device));
        }
    }

    /** A stage for {@code batch} on {@code spec}'s device, or null where the rows live in host memory (spec null). */
    static DeviceStage open(BackendSpec spec, RowBatch batch) {
        return spec == null ? null : new DeviceStage(spec, batch);
    }

    /** Before a send: staged, the device rows [0, rows) into the batch; on the device, the transport's job. */
    void beforeSend(int rows) {
        if (staged) {
            toHost(rows);
        }
    }

    /** After a receive: staged, the batch's rows [0, rows) onto the device; on the device, the transport's job. */
    void afterReceive(int rows) {
        if (staged) {
            toDevice(rows);
        }
    }

    /** Device rows [0, rows) into the batch's host rows, done when this returns (the copy bound's half). */
    void toHost(int rows) {
        backend.copyRows(host, device, rows);
        backend.awaitWrites();
    }

    /** The batch's host rows [0, rows) onto the device rows, done when this returns. */
    void toDevice(int rows) {
        backend.copyRows(device, host, rows);
        backend.awaitWrites();
    }

    @Override
    public void close() {
        backend.close();
    }
}
