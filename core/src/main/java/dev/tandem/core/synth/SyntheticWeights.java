package dev.tandem.core.synth;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.core.model.WeightSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The tensors {@link SyntheticCheckpoint} would write, with the same names, shapes and
 * distributions, made by the backend where it computes instead of read from disk: a full
 * Mixtral-8x7B (94 GB) on a GPU machine with 64 GB of disk. Values differ from the written
 * checkpoint's (another generator), the distribution does not.
 */
public final class SyntheticWeights implements WeightSource {
    private final SynthSpec spec;
    private final long seed;
    private final Map<String, SyntheticCheckpoint.Planned> planned = new HashMap<>();

    public SyntheticWeights(SynthSpec spec, long seed) {
        this.spec = spec;
        this.seed = seed;
        for (SyntheticCheckpoint.Planned p : SyntheticCheckpoint.plan(spec)) {
            planned.put(p.name(), p);
        }
    }

    /** The config.json the written checkpoint would carry. */
    public ModelConfig config() {
        try {
            return ModelConfigLoader.parse(SyntheticCheckpoint.config(spec), "synthetic config.json");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Bytes of all weights in bf16. */
    public long bytes() {
        return planned.values().stream().mapToLong(SyntheticCheckpoint.Planned::bytes).sum();
    }

    @Override
    public boolean contains(String name) {
        return planned.containsKey(name);
    }

    @Override
    public DeviceWeight load(ComputeBackend backend, String name, long... shape) {
        SyntheticCheckpoint.Planned p = planned.get(name);
        if (p == null || !Arrays.equals(p.shape(), shape)) {
            throw new TandemException("synthetic weights have no tensor '" + name + "' of shape " + Arrays.toString(shape));
        }
        int rows = shape.length == 1 ? 1 : Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(shape[shape.length - 1]);
        return backend.syntheticWeight(name, rows, cols, p.scale(), seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
    }

    @Override
    public void close() {
    }
}
