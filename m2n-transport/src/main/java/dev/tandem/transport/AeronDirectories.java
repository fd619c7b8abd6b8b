package dev.tandem.transport;

import dev.tandem.core.TandemException;
import io.aeron.CommonContext;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;

/**
 * Where Tandem's media drivers keep their files, and the care they take with them. A driver
 * clears its directory when it starts, so a directory given by hand must be empty, or an Aeron
 * directory that no live driver owns: anything else is refused, never deleted. A driver's
 * directory is made 0700 and its files 0600 (KV and activations pass through them), whatever the
 * umask. Drivers that Tandem names itself live in {@code tandem-USER-PID-N} under the shared-memory
 * directory, so that the next start removes those whose process died (a launcher killed with -9).
 */
public final class AeronDirectories {
    private static final long LIVENESS_TIMEOUT_MS = 2_000;
    private static final String CNC_FILE = "cnc.dat";
    private static final java.util.concurrent.atomic.AtomicLong DRIVERS = new java.util.concurrent.atomic.AtomicLong();

    private AeronDirectories() {
    }

    /** Refuses {@code dir} for a driver that clears it on start, unless that would lose nothing. */
    public static void checkUsable(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new TandemException(dir + " is not a directory; a media driver needs a directory of its own");
        }
        boolean empty;
        try (Stream<Path> entries = Files.list(dir)) {
            empty = entries.findAny().isEmpty();
        } catch (IOException e) {
            throw new TandemException(dir + ": cannot list it: " + e.getMessage(), e);
        }
        if (empty) {
            return;
        }
        if (!Files.isRegularFile(dir.resolve(CNC_FILE))) {
            throw new TandemException(dir + " is not empty and is not an Aeron directory (no " + CNC_FILE
                    + "): a media driver clears its directory on start, so Tandem refuses it");
        }
        if (CommonContext.isDriverActive(dir.toFile(), LIVENESS_TIMEOUT_MS, s -> {
        })) {
            throw new TandemException(dir + " belongs to a live media driver; stop it, or give another directory");
        }
    }

    /** The directory, 0700, and every file in it, 0600; on a file system without POSIX permissions, nothing. */
    public static void restrict(String dir) {
        Path path = Path.of(dir);
        try {
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rwx------"));
            try (Stream<Path> files = Files.list(path)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
                        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
                    }
                }
            }
        } catch (UnsupportedOperationException notPosix) {
            // e.g. a FAT file system: the umask decides
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot restrict its permissions", e);
        }
    }

    /**
     * A fresh directory name for a driver of this process, under {@code parent}: unique within the process
     * (a counter: two drivers started at once may read the same clock) and across restarts (the time).
     */
    public static String fresh(Path parent) {
        return parent.resolve(prefix() + ProcessHandle.current().pid() + "-" + System.currentTimeMillis() + "-"
                + DRIVERS.incrementAndGet()).toString();
    }

    /**
     * Removes the directories under {@code parent} that drivers of this user's dead Tandem processes
     * left (their PID is in the name and no longer runs). Returns how many went.
     */
    public static int removeStale(Path parent) {
        int removed = 0;
        if (!Files.isDirectory(parent)) {
            return 0;
        }
        try (Stream<Path> entries = Files.list(parent)) {
            for (Path dir : (Iterable<Path>) entries::iterator) {
                String name = dir.getFileName().toString();
                if (!name.startsWith(prefix()) || !Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                String[] parts = name.substring(prefix().length()).split("-");
                long pid;
                try {
                    pid = Long.parseLong(parts[0]);
                } catch (NumberFormatException e) {
                    continue;
                }
                if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    continue;
                }
                deleteTree(dir.toFile());
                removed++;
            }
        } catch (IOException e) {
            return removed;   // the next start tries again
        }
        return removed;
    }

    /** The shared-memory directory where Aeron puts drivers by default. */
    public static Path sharedMemory() {
        return Path.of(CommonContext.AERON_DIR_PROP_DEFAULT).getParent();
    }

    private static String prefix() {
        return "tandem-" + System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9_.]", "_") + "-";
    }

    /** Deletes {@code dir} and everything under it, as far as it can (best effort: what is left stays). */
    public static void deleteTree(Path dir) {
        deleteTree(dir.toFile());
    }

    private static void deleteTree(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteTree(c);
            }
        }
        f.delete();
    }
}
