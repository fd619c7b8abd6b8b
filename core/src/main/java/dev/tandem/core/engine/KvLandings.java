package dev.tandem.core.engine;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Where a token machine on a device lands arriving KV rows before they are scattered into its
 * cache: one area of device rows per sender, so that messages from several interleave, each grown
 * to the largest message it has held. The KV transfer DMAs each message's rows straight from
 * Aeron's term buffers into its sender's area. Opened on the backend's first use; null copies
 * where the backend keeps its cache in host memory. For the thread that steps the backend.
 */
public final class KvLandings {
    private final ComputeBackend backend;
    private DeviceCopies copies;
    private boolean opened;
    private Activations[] areas = new Activations[4]; // (senders)

    public KvLandings(ComputeBackend backend) {
        this.backend = backend;
    }

    /** The DMAs onto the backend's device, or null where it has none (the CPU). */
    public DeviceCopies copies() {
        if (!opened) {
            opened = true;
            copies = backend.openCopies(); // closed with the backend
        }
        return copies;
    }

    /** The device address of area {@code slot}, with room for {@code bytes}; stable until a larger request for it. */
    public long address(int slot, long bytes) {
        if (copies() == null) {
            throw new IllegalStateException("this backend keeps KV in host memory: rows arrive on the host");
        }
        if (slot >= areas.length) {
            areas = Arrays.copyOf(areas, Math.max(slot + 1, 2 * areas.length));
        }
        Activations rows = areas[slot];
        if (rows == null || (long) rows.cols() * Float.BYTES < bytes) {
            // the smaller rows stay allocated until the backend closes (a scatter may still read them);
            // they double each time, so at most as much again is left behind
            long words = Math.max((bytes + Float.BYTES - 1) / Float.BYTES, rows == null ? 0 : 2L * rows.cols());
            rows = backend.allocate(1, (int) Math.min(Integer.MAX_VALUE, words));
            areas[slot] = rows;
        }
        return copies.address(rows);
    }

    /** Area {@code slot}'s rows, for {@link ComputeBackend#scatterKv}. */
    public Activations rows(int slot) {
        return areas[slot];
    }

    /**
     * After a scatter out of an area is queued: later DMAs into the areas wait for the compute work
     * queued so far, so that they never overwrite rows a scatter has yet to read.
     */
    public void afterScatter() {
        copies.afterCompute();
    }

    /** Area {@code slot}'s first {@code bytes} into host memory {@code dst}, done when this returns. */
    public void toHost(int slot, long bytes, MemorySegment dst) {
        if (!dst.isNative() || dst.byteSize() < bytes) {
            throw new IllegalArgumentException("landed rows go to " + bytes + " B of off-heap memory, not " + dst);
        }
        copies.toHost(dst.address(), bytes, copies.address(areas[slot]), bytes, 1);
        copies.await();
    }
}
