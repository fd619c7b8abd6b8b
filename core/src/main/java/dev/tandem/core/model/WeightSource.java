package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;

/**
 * Where a model's weights come from: a checkpoint on disk, or seeded synthetic weights made
 * where the backend computes (for benchmarks of models too large to write out).
 */
public interface WeightSource extends AutoCloseable {
    boolean contains(String name);

    /** The named tensor as a weight of {@code backend}, checked against the shape config.json implies. */
    DeviceWeight load(ComputeBackend backend, String name, long... shape);

    @Override
    void close();

    static WeightSource of(Checkpoint checkpoint) {
        return new WeightSource() {
            @Override
            public boolean contains(String name) {
                return checkpoint.contains(name);
            }

            @Override
            public DeviceWeight load(ComputeBackend backend, String name, long... shape) {
                return backend.weight(checkpoint.tensor(name, shape));
            }

            @Override
            public void close() {
                checkpoint.close();
            }
        };
    }
}
