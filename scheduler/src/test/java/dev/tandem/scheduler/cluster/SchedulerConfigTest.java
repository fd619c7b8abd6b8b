package dev.tandem.scheduler.cluster;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SchedulerConfigTest {
    @TempDir
    Path temp;

    @Test
    void shouldReadMachinesAndDefaults() throws Exception {
        Path file = write("""
                model = models/mixtral
                prompt.nodes = 1
                prompt.0.address = 10.0.0.1:7001
                token.nodes = 2
                token.0.address = 10.0.0.2:7002
                token.1.address = 10.0.0.3:7002
                token.kv_tokens = 1024
                """);
        SchedulerConfig c = SchedulerConfig.load(file);
        assertEquals(temp.resolve("models/mixtral"), c.model(), "relative to the file");
        assertEquals("mixtral", c.name(), "the directory's name by default");
        assertEquals(List.of("10.0.0.1:7001"), c.promptNodes());
        assertEquals(List.of("10.0.0.2:7002", "10.0.0.3:7002"), c.tokenNodes());
        assertEquals(8192, c.promptKvTokens());
        assertEquals(1024, c.tokenKvTokens());
        assertEquals(4096, c.mixedThresholdTokens());
        assertEquals(120_000, c.connectTimeoutMs());
    }

    @Test
    void shouldNameTheKeyAtFault() throws Exception {
        Path missing = write("model = m\nprompt.nodes = 2\nprompt.0.address = h:1\n");
        TandemException e = assertThrows(TandemException.class, () -> SchedulerConfig.load(missing));
        assertTrue(e.getMessage().contains(missing + ": missing 'prompt.1.address'"), e.getMessage());
        Path noPort = write("model = m\ntoken.nodes = 1\ntoken.0.address = localhost\n");
        e = assertThrows(TandemException.class, () -> SchedulerConfig.load(noPort));
        assertTrue(e.getMessage().contains("'token.0.address' must be host:port"), e.getMessage());
        Path none = write("model = m\n");
        e = assertThrows(TandemException.class, () -> SchedulerConfig.load(none));
        assertTrue(e.getMessage().contains("no machines"), e.getMessage());
    }

    private Path write(String text) throws Exception {
        Path file = Files.createTempFile(temp, "scheduler", ".properties");
        return Files.writeString(file, text);
    }
}
