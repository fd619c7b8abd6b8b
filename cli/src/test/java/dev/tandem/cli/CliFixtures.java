package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The core module's Hugging Face fixtures, seen from the cli module, with a safetensors reader and
 * byte-level edits of its own so that tests check the CLI's files independently of the code under test.
 */
final class CliFixtures {
    static final String INDEX = "model.safetensors.index.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What one in-process run of {@code tandem} printed. */
    record Run(int exitCode, String out, String err) {
    }

    /** One tensor of a safetensors file, read here byte by byte. */
    record Tensor(String dtype, long[] shape, ByteBuffer data) {
        long[] longs() {
            long[] v = new long[data.remaining() / 8];
            data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(v);
            return v;
        }

        int[] ints() {
            return Arrays.stream(longs()).mapToInt(Math::toIntExact).toArray();
        }

        float[] floats() {
            float[] v = new float[data.remaining() / 4];
            data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
            return v;
        }
    }

    private CliFixtures() {
    }

    static Run tandem(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = TandemCommand.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** core/src/test/resources/fixtures/{model}; surefire runs in the module's directory. */
    static Path fixture(String model) {
        Path dir = Path.of("").toAbsolutePath().resolveSibling("core").resolve("src/test/resources/fixtures").resolve(model);
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalStateException("fixture not found at " + dir);
        }
        return dir;
    }

    /** config.json, the index and the shards of {@code model}, without expected.safetensors. */
    static Path copyFixture(String model, Path dest) {
        try (Stream<Path> files = Files.list(fixture(model))) {
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

    static Path shardOf(Path dir, String tensor) {
        return dir.resolve(readJson(dir.resolve(INDEX)).get("weight_map").get(tensor).asText());
    }

    static Map<String, Tensor> readSafetensors(Path file) {
        ByteBuffer all = ByteBuffer.wrap(bytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = Math.toIntExact(all.getLong(0));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : header(file).properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode t = e.getValue();
            long[] shape = new long[t.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.get("shape").get(i).asLong();
            }
            int begin = 8 + headerLength + t.get("data_offsets").get(0).asInt();
            int end = 8 + headerLength + t.get("data_offsets").get(1).asInt();
            tensors.put(e.getKey(), new Tensor(t.get("dtype").asText(), shape, all.slice(begin, end - begin)));
        }
        return tensors;
    }

    static ObjectNode header(Path file) {
        byte[] all = bytes(file);
        long length = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        try {
            return (ObjectNode) JSON.readTree(new String(all, 8, Math.toIntExact(length), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Edits the JSON header; the data bytes, and so every data_offsets, stay as they were. */
    static void rewriteHeader(Path file, Consumer<ObjectNode> edit) {
        byte[] all = bytes(file);
        int oldLength = Math.toIntExact(ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
        ObjectNode header = header(file);
        edit.accept(header);
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int dataBytes = all.length - 8 - oldLength;
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json).put(all, 8 + oldLength, dataBytes);
        write(file, out.array());
    }

    static void truncate(Path file, long size) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(size);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void setHeaderLength(Path file, long length) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ObjectNode readJson(Path file) {
        try {
            return (ObjectNode) JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void editJson(Path file, Consumer<ObjectNode> edit) {
        ObjectNode root = readJson(file);
        edit.accept(root);
        write(file, root.toString().getBytes(StandardCharsets.UTF_8));
    }

    static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The port a server started by {@code exit}'s command wrote to {@code portFile}, once it did
     * (the file exists, empty, for a moment before the port is in it).
     */
    static int awaitPortFile(Path portFile, java.util.concurrent.CompletableFuture<Integer> exit, long waitMs,
                             String what) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(waitMs);
        while (!Files.exists(portFile) || Files.readString(portFile).isBlank()) {
            if (exit.isDone() || System.nanoTime() > deadline) {
                throw new AssertionError(what + " did not start; exit " + (exit.isDone() ? exit.get() : "none"));
            }
            Thread.sleep(20);
        }
        return Integer.parseInt(Files.readString(portFile).strip());
    }
}
