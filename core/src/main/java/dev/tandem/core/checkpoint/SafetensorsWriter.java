package dev.tandem.core.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Writes a {@code .safetensors} file by mapping it and letting each tensor fill its own slice,
 * so that multi-gigabyte synthetic checkpoints never pass through the heap.
 */
public final class SafetensorsWriter {
    /** Fills a tensor's bytes in place. */
    @FunctionalInterface
    public interface Filler {
        void fill(MemorySegment bytes);
    }

    public record Entry(String name, DType dtype, long[] shape, Filler filler) {
        long byteSize() {
            long n = dtype.bytes;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private SafetensorsWriter() {
    }

    public static void write(Path path, List<Entry> entries, Map<String, String> metadata) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name());
            t.put("dtype", e.dtype().name());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.byteSize());
            offset += e.byteSize();
        }
        byte[] headerBytes = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) & ~7; // keep tensor data 8-byte aligned, as safetensors does
        long total = 8 + padded + offset;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
             Arena arena = Arena.ofShared()) {
            MemorySegment file = channel.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
            file.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, padded);
            MemorySegment.copy(MemorySegment.ofArray(headerBytes), 0, file, 8, headerBytes.length);
            file.asSlice(8 + headerBytes.length, padded - headerBytes.length).fill((byte) ' ');
            long at = 8 + padded;
            for (Entry e : entries) {
                e.filler().fill(file.asSlice(at, e.byteSize()));
                at += e.byteSize();
            }
            file.force();
        } catch (IOException e) {
            throw new TandemException(path + ": cannot write safetensors file: " + e.getMessage(), e);
        }
    }

    /** A filler that copies float32 values, for small outputs such as logits. */
    public static Filler floats(float[] values) {
        return bytes -> MemorySegment.copy(values, 0, bytes, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, values.length);
    }
}
