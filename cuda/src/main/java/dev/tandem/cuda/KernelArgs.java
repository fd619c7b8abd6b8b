package dev.tandem.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The {@code void** kernelParams} of one launch, reused for every launch: slot i holds the
 * i-th argument's value and pointer i points at it. The driver copies the values when the
 * launch is enqueued, so the next launch may overwrite them at once. One thread at a time.
 * Every argument fills its whole slot (an int's upper half zero), so that the slots of two launches
 * with the same arguments compare equal ({@link StreamOps}'s trace).
 */
final class KernelArgs {
    private static final int MAX_ARGS = 24;
    private static final long SLOT = 8;

    private final MemorySegment values;   // (MAX_ARGS) 8-byte slots
    final MemorySegment pointers;         // (MAX_ARGS) addresses of the slots
    private int count;

    KernelArgs(Arena arena) {
        values = arena.allocate(MAX_ARGS * SLOT, 16);
        pointers = arena.allocate(MAX_ARGS * SLOT, 16);
        for (int i = 0; i < MAX_ARGS; i++) {
            pointers.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice(i * SLOT, SLOT));
        }
    }

    KernelArgs reset() {
        count = 0;
        return this;
    }

    /** A device pointer or any 64-bit integer ({@code long}, {@code unsigned long long}). */
    KernelArgs p(long value) {
        values.set(ValueLayout.JAVA_LONG, slot(), value);
        return this;
    }

    KernelArgs i(int value) {
        values.set(ValueLayout.JAVA_LONG, slot(), value & 0xffff_ffffL);
        return this;
    }

    KernelArgs f(float value) {
        values.set(ValueLayout.JAVA_LONG, slot(), Float.floatToRawIntBits(value) & 0xffff_ffffL);
        return this;
    }

    int count() {
        return count;
    }

    /** The i-th argument's slot as a 64-bit value. */
    long value(int i) {
        return values.get(ValueLayout.JAVA_LONG, i * SLOT);
    }

    private long slot() {
        if (count == MAX_ARGS) {
            throw new IllegalStateException("more than " + MAX_ARGS + " kernel arguments");
        }
        return count++ * SLOT;
    }
}
