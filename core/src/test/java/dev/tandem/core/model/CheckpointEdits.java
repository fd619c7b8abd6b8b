package dev.tandem.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.checkpoint.SafetensorsWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Copies a fixture checkpoint into a scratch directory and rewrites or damages it byte by byte.
 * It parses safetensors itself (8-byte little-endian header length, JSON header, data), so the
 * files that tests feed the loader do not depend on the reader under test.
 */
public final class CheckpointEdits {
    public static final String INDEX = "model.safetensors.index.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor as stored: its safetensors dtype name, shape and raw little-endian bytes. */
    public record RawTensor(String name, String dtype, long[] shape, byte[] data) {
    }

    private CheckpointEdits() {
    }

    /** config.json, the index and the shards of {@code model} (not expected.safetensors) in {@code dest}. */
    public static Path copyFixture(String model, Path dest) {
        try (Stream<Path> files = Files.list(FixtureSupport.dir(model))) {
            Files.createDirectories(dest);
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("expected.safetensors")) {
                    Files.copy(f, dest.resolve(f.getFileName()));
                }
            }
            return dest;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The shard that the index of {@code dir} names for {@code tensor}. */
    public static Path shardOf(Path dir, String tensor) {
        ObjectNode index = readJson(dir.resolve(INDEX));
        return dir.resolve(index.get("weight_map").get(tensor).asText());
    }

    public static long headerLength(Path file) {
        return headerLength(bytes(file));
    }

    public static ObjectNode header(Path file) {
        return header(bytes(file));
    }

    /** Names of the tensors whose data_offsets end past {@code dataBytes}. */
    public static List<String> tensorsEndingPast(Path file, long dataBytes) {
        List<String> cut = new ArrayList<>();
        header(file).properties().forEach(e -> {
            if (!e.getKey().equals("__metadata__") && e.getValue().get("data_offsets").get(1).asLong() > dataBytes) {
                cut.add(e.getKey());
            }
        });
        return cut;
    }

    public static void truncate(Path file, long size) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(size);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Overwrites the 8-byte little-endian header length, leaving every other byte alone. */
    public static void setHeaderLength(Path file, long length) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Edits the JSON header in place; the data bytes (and so every data_offsets) stay as they were. */
    public static void rewriteHeader(Path file, Consumer<ObjectNode> edit) {
        byte[] all = bytes(file);
        int dataStart = 8 + Math.toIntExact(headerLength(all));
        ObjectNode header = header(all);
        edit.accept(header);
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        ByteBuffer out = ByteBuffer.allocate(8 + padded + all.length - dataStart).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.position() < 8 + padded) {
            out.put((byte) ' ');
        }
        out.put(all, dataStart, all.length - dataStart);
        write(file, out.array());
    }

    public static List<RawTensor> readTensors(Path file) {
        byte[] all = bytes(file);
        long dataStart = 8 + headerLength(all);
        List<RawTensor> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : header(all).properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode node = e.getValue();
            long[] shape = new long[node.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = node.get("shape").get(i).asLong();
            }
            int begin = Math.toIntExact(dataStart + node.get("data_offsets").get(0).asLong());
            int end = Math.toIntExact(dataStart + node.get("data_offsets").get(1).asLong());
            tensors.add(new RawTensor(e.getKey(), node.get("dtype").asText(), shape, Arrays.copyOfRange(all, begin, end)));
        }
        return tensors;
    }

    private static long headerLength(byte[] file) {
        return ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private static ObjectNode header(byte[] file) {
        try {
            return (ObjectNode) JSON.readTree(new String(file, 8, Math.toIntExact(headerLength(file)), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes the tensors with the main code's writer, which the reader is tested against elsewhere. */
    public static void writeTensors(Path file, List<RawTensor> tensors) {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (RawTensor t : tensors) {
            entries.add(new SafetensorsWriter.Entry(t.name(), DType.valueOf(t.dtype()), t.shape(),
                    bytes -> MemorySegment.copy(MemorySegment.ofArray(t.data()), 0, bytes, 0, t.data().length)));
        }
        SafetensorsWriter.write(file, entries, Map.of("format", "pt"));
    }

    /** The shard files of {@code dir}, sorted, from its index. */
    public static List<Path> shards(Path dir) {
        TreeSet<Path> shards = new TreeSet<>();
        readJson(dir.resolve(INDEX)).get("weight_map").forEach(file -> shards.add(dir.resolve(file.asText())));
        return List.copyOf(shards);
    }

    public static ObjectNode readJson(Path file) {
        try {
            return (ObjectNode) JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void editJson(Path file, Consumer<ObjectNode> edit) {
        ObjectNode root = readJson(file);
        edit.accept(root);
        try {
            Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void delete(Path file) {
        try {
            Files.delete(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
