package dev.tandem.transport.control;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fingerprint follows the model, not the file layout or formatting. */
class ModelFingerprintTest
{
    private static final Path FIXTURES = Path.of("../core/src/test/resources/fixtures"); // tests run in the module dir
    private static final String CONFIG = "{\"model_type\": \"mixtral\", \"hidden_size\": 64, \"rope_parameters\": " +
        "{\"rope_type\": \"default\", \"rope_theta\": 1000000.0}, \"transformers_version\": \"5.17.0\"}";
    private static final String CONFIG_REFORMATTED = "{\n  \"transformers_version\": \"4.0.0\",\n" +
        "  \"rope_parameters\": {\"rope_theta\": 1e6, \"rope_type\": \"default\"},\n" +
        "  \"hidden_size\": 64,\n  \"model_type\": \"mixtral\"\n}\n";
    private static final String A = "\"a.weight\":{\"dtype\":\"BF16\",\"shape\":[4,2],\"data_offsets\":[0,16]}";
    private static final String B = "\"b.weight\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}";
    private static final String B_OTHER_SHAPE = "\"b.weight\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[0,4]}";

    @Test
    void shouldNotDependOnFormattingToolVersionOrSharding(@TempDir final Path dir) throws IOException
    {
        final Path sharded = checkpoint(dir.resolve("sharded"), CONFIG, "{" + A + "}", "{" + B + "}");
        final Path single = Files.createDirectories(dir.resolve("single"));
        Files.writeString(single.resolve("config.json"), CONFIG_REFORMATTED);
        safetensors(single.resolve("model.safetensors"), "{\"__metadata__\":{\"format\":\"pt\"}," + B + "," + A + "}");

        final String fingerprint = ModelFingerprint.of(sharded);
        assertTrue(fingerprint.matches("sha256:[0-9a-f]{64}"), fingerprint);
        assertEquals(fingerprint, ModelFingerprint.of(single));
    }

    @Test
    void shouldChangeWithConfigOrTensorShape(@TempDir final Path dir) throws IOException
    {
        final String base = ModelFingerprint.of(checkpoint(dir.resolve("base"), CONFIG, "{" + A + "}", "{" + B + "}"));
        assertNotEquals(base, ModelFingerprint.of(checkpoint(dir.resolve("shape"), CONFIG, "{" + A + "}",
            "{" + B_OTHER_SHAPE + "}")));
        assertNotEquals(base, ModelFingerprint.of(checkpoint(dir.resolve("config"),
            CONFIG.replace("\"hidden_size\": 64", "\"hidden_size\": 65"), "{" + A + "}", "{" + B + "}")));
    }

    @Test
    void shouldTellTheFixtureModelsApart()
    {
        final String mixtral = ModelFingerprint.of(FIXTURES.resolve("mixtral-tiny"));
        assertEquals(mixtral, ModelFingerprint.of(FIXTURES.resolve("mixtral-tiny")));
        assertNotEquals(mixtral, ModelFingerprint.of(FIXTURES.resolve("dbrx-tiny")));
    }

    @Test
    void shouldNameTheBadFile(@TempDir final Path dir) throws IOException
    {
        final Path broken = checkpoint(dir.resolve("broken"), CONFIG, "{" + A + "}", "{" + B + "}");
        Files.write(broken.resolve("model-00002-of-00002.safetensors"), new byte[]{1, 2, 3});
        final TandemException ex = assertThrows(TandemException.class, () -> ModelFingerprint.of(broken));
        assertTrue(ex.getMessage().contains("model-00002-of-00002.safetensors"), ex.getMessage());
    }

    private static Path checkpoint(final Path dir, final String config, final String header1, final String header2)
        throws IOException
    {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config);
        safetensors(dir.resolve("model-00001-of-00002.safetensors"), header1);
        safetensors(dir.resolve("model-00002-of-00002.safetensors"), header2);
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\":{},\"weight_map\":{" +
            "\"a.weight\":\"model-00001-of-00002.safetensors\",\"b.weight\":\"model-00002-of-00002.safetensors\"}}");
        return dir;
    }

    private static void safetensors(final Path file, final String header) throws IOException
    {
        final byte[] json = header.getBytes(StandardCharsets.UTF_8);
        final ByteBuffer bytes = ByteBuffer.allocate(8 + json.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putLong(json.length).put(json);
        Files.write(file, bytes.array());
    }
}
