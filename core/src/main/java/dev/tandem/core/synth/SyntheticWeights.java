package dev.tandem.core.synth;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.core.model.WeightSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
    private static final ObjectMapper JSON = new ObjectMapper();
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

    /**
     * A checkpoint directory that holds a description of its weights instead of safetensors
     * ({@link #describe}); every process that opens it makes the same weights where it
     * computes, so the node processes of a cluster can serve a shape larger than the disk.
     */
    public static final String DESCRIPTION_FILE = "synthetic-weights.json";

    /** Writes config.json and the description of {@code spec}'s weights with {@code seed} into {@code dir}. */
    public static void describe(SynthSpec spec, long seed, Path dir) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), SyntheticCheckpoint.config(spec));
            ObjectNode description = JSON.valueToTree(spec);
            description.put("seed", seed);
            Files.writeString(dir.resolve(DESCRIPTION_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(description));
        } catch (IOException e) {
            throw new TandemException(dir + ": cannot write the synthetic weights' description: " + e.getMessage(), e);
        }
    }

    /** The weights {@code dir} describes, or null where it has no description (a real checkpoint). */
    public static SyntheticWeights describedIn(Path dir) {
        Path file = dir.resolve(DESCRIPTION_FILE);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            ObjectNode description = (ObjectNode) JSON.readTree(file.toFile());
            long seed = description.remove("seed").asLong();
            return new SyntheticWeights(JSON.treeToValue(description, SynthSpec.class), seed);
        } catch (IOException | RuntimeException e) {
            throw new TandemException(file + ": not a synthetic weights description (" + e.getMessage() + ")", e);
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
