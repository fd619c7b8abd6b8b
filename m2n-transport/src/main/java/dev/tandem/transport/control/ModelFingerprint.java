package dev.tandem.transport.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tandem.core.TandemException;
import dev.tandem.core.synth.SyntheticWeights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Identifies a model checkpoint so that nodes that loaded different models cannot join one
 * cluster: {@code "sha256:<hex>"} over config.json (parsed, keys sorted, tool-version keys left
 * out, so formatting and the transformers version do not matter) and, for every tensor in name
 * order, its name, dtype and shape from the safetensors headers (so how the weights are split
 * into shards does not matter either). Reads only config.json and the headers, never the weights;
 * for a directory that describes synthetic weights instead, config.json and that description.
 */
public final class ModelFingerprint
{
    public static final String PREFIX = "sha256:";
    private static final String DOMAIN = "tandem-model-fingerprint/v1\n";
    /** Keys that record who wrote the file, not what the model is. */
    private static final Set<String> IGNORED_CONFIG_KEYS = Set.of("transformers_version", "_name_or_path", "_commit_hash");
    private static final long MAX_HEADER_LENGTH = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private ModelFingerprint()
    {
    }

    /**
     * @param checkpoint a directory with config.json and either model.safetensors.index.json and its
     *                   shards, or a single model.safetensors.
     * @throws TandemException naming the file when it is missing or malformed.
     */
    public static String of(final Path checkpoint)
    {
        final MessageDigest sha256 = sha256();
        sha256.update(DOMAIN.getBytes(StandardCharsets.UTF_8));
        sha256.update(canonicalJson(checkpoint.resolve("config.json")));
        sha256.update((byte)'\n');
        final Path described = checkpoint.resolve(SyntheticWeights.DESCRIPTION_FILE);
        if (Files.isRegularFile(described)) // weights made where they are loaded: their description names them
        {
            sha256.update(canonicalJson(described));
            return PREFIX + HexFormat.of().formatHex(sha256.digest());
        }
        final Map<String, String> tensors = new TreeMap<>(); // name -> "dtype [shape]"
        for (final Path shard : shards(checkpoint))
        {
            readHeader(shard, tensors);
        }
        for (final Map.Entry<String, String> tensor : tensors.entrySet())
        {
            sha256.update((tensor.getKey() + '\0' + tensor.getValue() + '\n').getBytes(StandardCharsets.UTF_8));
        }
        return PREFIX + HexFormat.of().formatHex(sha256.digest());
    }

    private static byte[] canonicalJson(final Path config)
    {
        try
        {
            @SuppressWarnings("unchecked")
            final Map<String, Object> map = JSON.readValue(config.toFile(), Map.class);
            IGNORED_CONFIG_KEYS.forEach(map::remove);
            return JSON.writeValueAsBytes(map); // nested maps sorted by key too
        }
        catch (final IOException | RuntimeException ex)
        {
            throw new TandemException("cannot read " + config + ": " + ex.getMessage(), ex);
        }
    }

    private static List<Path> shards(final Path checkpoint)
    {
        final Path index = checkpoint.resolve("model.safetensors.index.json");
        if (Files.exists(index))
        {
            try
            {
                final Set<String> files = new TreeSet<>();
                final Iterator<JsonNode> values = JSON.readTree(index.toFile()).path("weight_map").elements();
                values.forEachRemaining(v -> files.add(v.asText()));
                if (files.isEmpty())
                {
                    throw new TandemException(index + " has no weight_map entries");
                }
                final List<Path> shards = new ArrayList<>();
                files.forEach(f -> shards.add(checkpoint.resolve(f)));
                return shards;
            }
            catch (final IOException ex)
            {
                throw new TandemException("cannot read " + index + ": " + ex.getMessage(), ex);
            }
        }
        final Path single = checkpoint.resolve("model.safetensors");
        if (Files.exists(single))
        {
            return List.of(single);
        }
        throw new TandemException(checkpoint + " has neither model.safetensors.index.json nor model.safetensors");
    }

    /** Add {@code name -> "dtype [shape]"} for every tensor in the header of one safetensors file. */
    private static void readHeader(final Path shard, final Map<String, String> tensors)
    {
        try (FileChannel file = FileChannel.open(shard))
        {
            final ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(file, lengthBytes, 0);
            final long headerLength = lengthBytes.getLong(0);
            if (headerLength <= 0 || headerLength > MAX_HEADER_LENGTH || headerLength > file.size() - 8)
            {
                throw new TandemException(shard + ": bad safetensors header length " + headerLength);
            }
            final ByteBuffer header = ByteBuffer.allocate((int)headerLength);
            readFully(file, header, 8);
            final JsonNode root = JSON.readTree(header.array());
            for (final Map.Entry<String, JsonNode> entry : root.properties())
            {
                if (!entry.getKey().equals("__metadata__"))
                {
                    tensors.put(entry.getKey(),
                        entry.getValue().path("dtype").asText() + " " + entry.getValue().path("shape"));
                }
            }
        }
        catch (final IOException ex)
        {
            throw new TandemException("cannot read the safetensors header of " + shard + ": " + ex.getMessage(), ex);
        }
    }

    private static void readFully(final FileChannel file, final ByteBuffer buffer, final long position)
        throws IOException
    {
        long at = position;
        while (buffer.hasRemaining())
        {
            final int read = file.read(buffer, at);
            if (read < 0)
            {
                throw new IOException("unexpected end of file");
            }
            at += read;
        }
    }

    private static MessageDigest sha256()
    {
        try
        {
            return MessageDigest.getInstance("SHA-256");
        }
        catch (final NoSuchAlgorithmException ex)
        {
            throw new IllegalStateException("every JDK has SHA-256", ex);
        }
    }
}
