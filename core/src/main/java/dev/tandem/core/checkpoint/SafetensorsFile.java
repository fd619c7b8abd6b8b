package dev.tandem.core.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One memory-mapped {@code .safetensors} file: an 8-byte little-endian header length, a JSON
 * header, then the tensor bytes. Nothing is copied: each tensor is a slice of the mapping, valid
 * until the file is closed. Every offset is checked against the file size before it is trusted.
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path path;
    private final Arena arena;
    private final Map<String, TensorView> tensors = new LinkedHashMap<>();

    private SafetensorsFile(Path path, Arena arena) {
        this.path = path;
        this.arena = arena;
    }

    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        SafetensorsFile file = new SafetensorsFile(path, arena);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw file.error("file is " + size + " bytes, too short for a safetensors header (truncated?)");
            }
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            file.parse(mapping, size);
            return file;
        } catch (IOException e) {
            arena.close();
            throw new TandemException(path + ": cannot read safetensors file: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private void parse(MemorySegment mapping, long size) {
        long headerLength = mapping.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength <= 0 || headerLength > size - 8 || headerLength > MAX_HEADER_BYTES) {
            throw error("header length " + headerLength + " points past the end of the file (" + size
                    + " bytes): truncated or not a safetensors file");
        }
        byte[] headerBytes = mapping.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw error("header is not valid JSON: " + e.getMessage());
        }
        if (header == null || !header.isObject()) {
            throw error("header is not a JSON object");
        }
        long dataStart = 8 + headerLength;
        long dataBytes = size - dataStart;
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (!entry.getKey().equals("__metadata__")) {
                tensors.put(entry.getKey(), tensor(entry.getKey(), entry.getValue(), mapping, dataStart, dataBytes));
            }
        }
    }

    private TensorView tensor(String name, JsonNode node, MemorySegment mapping, long dataStart, long dataBytes) {
        String where = path + ": tensor '" + name + "'";
        JsonNode dtypeNode = node.get("dtype");
        JsonNode shapeNode = node.get("shape");
        JsonNode offsets = node.get("data_offsets");
        if (dtypeNode == null || shapeNode == null || !shapeNode.isArray() || offsets == null
                || !offsets.isArray() || offsets.size() != 2) {
            throw new TandemException(where + ": header entry needs dtype, shape and data_offsets [begin, end]");
        }
        DType dtype = DType.parse(dtypeNode.asText(), where);
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) {
                throw new TandemException(where + ": negative or non-integer dimension in shape " + shapeNode);
            }
            elements = Math.multiplyExact(elements, shape[i]);
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin) {
            throw new TandemException(where + ": bad data_offsets " + offsets);
        }
        if (end > dataBytes) {
            throw new TandemException(where + ": data_offsets " + offsets + " point past the end of the file ("
                    + dataBytes + " data bytes): the file is truncated");
        }
        if (end - begin != elements * dtype.bytes) {
            throw new TandemException(where + ": shape " + shapeNode + " of " + dtype + " needs "
                    + elements * dtype.bytes + " bytes but data_offsets span " + (end - begin));
        }
        return new TensorView(name, path.toString(), dtype, shape, mapping.asSlice(dataStart + begin, end - begin));
    }

    private TandemException error(String message) {
        return new TandemException(path + ": " + message);
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorView> tensors() {
        return tensors;
    }

    public TensorView tensor(String name) {
        TensorView view = tensors.get(name);
        if (view == null) {
            throw error("no tensor named '" + name + "'");
        }
        return view;
    }

    @Override
    public void close() {
        arena.close();
    }
}
