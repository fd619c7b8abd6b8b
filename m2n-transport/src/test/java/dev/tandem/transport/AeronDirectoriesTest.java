package dev.tandem.transport;

import dev.tandem.core.TandemException;
import io.aeron.driver.MediaDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A media driver's directory: a directory given by hand is refused where clearing it would lose
 * something (files of another kind, a live driver's); Tandem's drivers keep theirs 0700 with
 * 0600 files; what a dead Tandem process's driver left is removed at the next start.
 */
class AeronDirectoriesTest {
    @TempDir
    Path temp;

    @Test
    void shouldRefuseADirectoryThatIsNotAnAeronOneAndKeepItsFiles() throws Exception {
        Path dir = Files.createDirectories(temp.resolve("home"));
        Files.writeString(dir.resolve("notes.txt"), "mine");
        TandemException e = assertThrows(TandemException.class, () -> AeronDirectories.checkUsable(dir));
        assertTrue(e.getMessage().contains("not an Aeron directory"), e.getMessage());
        assertEquals("mine", Files.readString(dir.resolve("notes.txt")));
        assertDoesNotThrow(() -> AeronDirectories.checkUsable(temp.resolve("absent")));
        assertDoesNotThrow(() -> AeronDirectories.checkUsable(Files.createDirectories(temp.resolve("empty"))));
        Path file = Files.writeString(temp.resolve("a-file"), "x");
        assertThrows(TandemException.class, () -> AeronDirectories.checkUsable(file));
    }

    @Test
    void shouldRefuseALiveDriversDirectoryAndAcceptItOnceTheDriverStopped() {
        Path dir = temp.resolve("driver");
        try (MediaDriver driver = MediaDriver.launch(AeronNode.driverContext(TransportConfig.defaults())
                .aeronDirectoryName(dir.toString()).dirDeleteOnShutdown(false))) {
            TandemException e = assertThrows(TandemException.class, () -> AeronDirectories.checkUsable(dir));
            assertTrue(e.getMessage().contains("live media driver"), e.getMessage());
        }
        assertTrue(Files.isRegularFile(dir.resolve("cnc.dat")), "a stopped driver's files stay");
        assertDoesNotThrow(() -> AeronDirectories.checkUsable(dir), "a dead driver's directory may be reused");
    }

    @Test
    void shouldKeepItsOwnDriversDirectoryPrivate() throws Exception {
        try (MediaDriver driver = ClusterTransport.launchSharedDriver()) {
            Path dir = Path.of(driver.aeronDirectoryName());
            assertTrue(dir.getFileName().toString().startsWith("tandem-"), dir.toString());
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("cnc.dat"))));
        }
    }

    @Test
    void shouldRemoveWhatDeadProcessesDriversLeftAndNothingElse() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        String user = System.getProperty("user.name").replaceAll("[^A-Za-z0-9_.]", "_");
        Path dead = Files.createDirectories(temp.resolve("tandem-" + user + "-" + gone.pid() + "-1"));
        Files.writeString(dead.resolve("cnc.dat"), "stale");
        Path live = Files.createDirectories(temp.resolve("tandem-" + user + "-" + ProcessHandle.current().pid() + "-2"));
        Path other = Files.createDirectories(temp.resolve("aeron-someone-else"));
        assertEquals(1, AeronDirectories.removeStale(temp));
        assertFalse(Files.exists(dead), "the dead process's directory is gone");
        assertTrue(Files.isDirectory(live), "a live process's directory stays");
        assertTrue(Files.isDirectory(other), "directories of other programs stay");
    }
}
