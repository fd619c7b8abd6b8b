package dev.tandem.core.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.TandemException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A checkpoint directory as Hugging Face stores it: {@code model.safetensors.index.json} naming
 * the shard of every tensor, or a single {@code model.safetensors}, or (without an index) every
 * {@code *.safetensors} in the directory. Shards are mapped lazily, once each.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path dir;
    private final Map<String, Path> shardOf;
    private final Map<Path, SafetensorsFile> open = new HashMap<>();

    private Checkpoint(Path dir, Map<String, Path> shardOf) {
        this.dir = dir;
        this.shardOf = shardOf;
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new TandemException(dir + ": not a checkpoint directory");
        }
        Path index = dir.resolve(INDEX_FILE);
        if (Files.exists(index)) {
            return new Checkpoint(dir, readIndex(dir, index));
        }
        Checkpoint checkpoint = new Checkpoint(dir, new TreeMap<>());
        List<Path> shards = listShards(dir);
        if (shards.isEmpty()) {
            throw new TandemException(dir + ": no " + INDEX_FILE + " and no *.safetensors files");
        }
        try {
            for (Path shard : shards) {
                for (String name : checkpoint.file(shard).tensors().keySet()) {
                    checkpoint.shardOf.put(name, shard);
                }
            }
        } catch (RuntimeException e) {
            checkpoint.close(); // unmap the shards that did open
            throw e;
        }
        return checkpoint;
    }

    private static Map<String, Path> readIndex(Path dir, Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new TandemException(index + ": not valid JSON: " + e.getMessage(), e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new TandemException(index + ": missing object field 'weight_map'");
        }
        Map<String, Path> shardOf = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Path shard = dir.resolve(e.getValue().asText());
            if (!Files.exists(shard)) {
                throw new TandemException(index + ": tensor '" + e.getKey() + "' is in " + shard.getFileName()
                        + ", which does not exist");
            }
            shardOf.put(e.getKey(), shard);
        }
        return shardOf;
    }

    private static List<Path> listShards(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return new ArrayList<>(files.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                    .filter(p -> !p.getFileName().toString().equals("expected.safetensors"))
                    .sorted().toList());
        } catch (IOException e) {
            throw new TandemException(dir + ": cannot list directory: " + e.getMessage(), e);
        }
    }

    private SafetensorsFile file(Path shard) {
        return open.computeIfAbsent(shard, SafetensorsFile::open);
    }

    public Path dir() {
        return dir;
    }

    public boolean contains(String name) {
        return shardOf.containsKey(name);
    }

    public Iterable<String> tensorNames() {
        return shardOf.keySet();
    }

    public TensorView tensor(String name) {
        Path shard = shardOf.get(name);
        if (shard == null) {
            Path index = dir.resolve(INDEX_FILE);
            throw new TandemException((Files.exists(index) ? index : dir) + ": checkpoint has no tensor '" + name + "'");
        }
        TensorView view = file(shard).tensors().get(name);
        if (view == null) {
            throw new TandemException(shard + ": tensor '" + name + "' is listed in " + INDEX_FILE
                    + " but missing from the file");
        }
        return view;
    }

    /** The tensor, checked against the shape that config.json implies. */
    public TensorView tensor(String name, long... expectedShape) {
        TensorView view = tensor(name);
        if (!java.util.Arrays.equals(view.shape(), expectedShape)) {
            throw new TandemException(view.file() + ": tensor '" + name + "' has shape " + view.shapeString()
                    + " but config.json implies " + java.util.Arrays.toString(expectedShape));
        }
        if (!view.dtype().isFloatingWeight()) {
            throw new TandemException(view.file() + ": tensor '" + name + "' has dtype " + view.dtype()
                    + "; weights must be BF16, F16 or F32");
        }
        return view;
    }

    @Override
    public void close() {
        open.values().forEach(SafetensorsFile::close);
        open.clear();
    }
}
