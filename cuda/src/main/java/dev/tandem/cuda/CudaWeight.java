package dev.tandem.cuda;

import dev.tandem.core.compute.DeviceWeight;

/** A weight matrix in device memory, row-major, bf16 or float32 ({@code elementBytes} 2 or 4). */
record CudaWeight(long pointer, int rows, int cols, int elementBytes) implements DeviceWeight {
    @Override
    public DeviceWeight rowSlice(int from, int count) {
        if (from < 0 || count < 0 || from + count > rows) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + (from + count) + ") of " + rows);
        }
        return new CudaWeight(pointer + (long) from * cols * elementBytes, count, cols, elementBytes);
    }

    boolean bf16() {
        return elementBytes == 2;
    }
}
