package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.Activations;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Off-heap float32 rows; a column view keeps the parent's stride. */
final class CpuActivations implements Activations {
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final MemorySegment data;
    final int rowCapacity;
    final int stride; // floats between rows
    final int offset; // floats from a row's start to this view's first column
    final int cols;

    CpuActivations(MemorySegment data, int rowCapacity, int stride, int offset, int cols) {
        this.data = data;
        this.rowCapacity = rowCapacity;
        this.stride = stride;
        this.offset = offset;
        this.cols = cols;
    }

    @Override
    public int rowCapacity() {
        return rowCapacity;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public Activations columns(int from, int width) {
        if (from < 0 || width <= 0 || from + width > cols) {
            throw new IndexOutOfBoundsException("columns [" + from + ", " + (from + width) + ") of " + cols);
        }
        return new CpuActivations(data, rowCapacity, stride, offset + from, width);
    }

    @Override
    public Activations rows(int from, int count) {
        if (from < 0 || count < 0 || from + count > rowCapacity) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + (from + count) + ") of " + rowCapacity);
        }
        return new CpuActivations(data.asSlice((long) from * stride * Float.BYTES), count, stride, offset, cols);
    }

    /** Byte offset of element (row, col). */
    long at(int row, int col) {
        return ((long) row * stride + offset + col) * Float.BYTES;
    }

    float get(int row, int col) {
        return data.get(FLOAT, at(row, col));
    }

    void set(int row, int col, float value) {
        data.set(FLOAT, at(row, col), value);
    }

    void checkRows(int rows) {
        if (rows > rowCapacity) {
            throw new IllegalArgumentException(rows + " rows exceed the buffer's capacity of " + rowCapacity);
        }
    }
}
