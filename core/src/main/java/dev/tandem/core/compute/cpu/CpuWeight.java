package dev.tandem.core.compute.cpu;

import dev.tandem.core.checkpoint.DType;
import dev.tandem.core.compute.DeviceWeight;

import java.lang.foreign.MemorySegment;

/** A weight that stays in the memory-mapped checkpoint. */
record CpuWeight(MemorySegment data, DType dtype, int rows, int cols) implements DeviceWeight {
    @Override
    public DeviceWeight rowSlice(int from, int count) {
        if (from < 0 || count < 0 || from + count > rows) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + (from + count) + ") of " + rows);
        }
        long rowBytes = (long) cols * dtype.bytes;
        return new CpuWeight(data.asSlice(from * rowBytes, count * rowBytes), dtype, count, cols);
    }

    long rowOffset(int row) {
        return (long) row * cols * dtype.bytes;
    }

    /** Element (row, col) widened to float; for the scalar paths. */
    float get(int row, int col) {
        long i = (long) row * cols + col;
        return switch (dtype) {
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(CpuActivations.SHORT, i) << 16);
            case F16 -> Float.float16ToFloat(data.getAtIndex(CpuActivations.SHORT, i));
            case F32 -> data.getAtIndex(CpuActivations.FLOAT, i);
            default -> throw new IllegalStateException("weight dtype " + dtype);
        };
    }
}
