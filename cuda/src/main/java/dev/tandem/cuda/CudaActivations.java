package dev.tandem.cuda;

import dev.tandem.core.compute.Activations;

/**
 * Float32 rows in device memory (or, {@code hostMapped}, in registered host memory the device
 * reads over the bus): element (r, c) at {@code pointer + 4·(r·stride + c)}.
 */
record CudaActivations(long pointer, int rowCapacity, int cols, int stride, boolean hostMapped) implements Activations {
    @Override
    public Activations columns(int from, int width) {
        if (from < 0 || width < 0 || from + width > cols) {
            throw new IndexOutOfBoundsException("columns [" + from + ", " + (from + width) + ") of " + cols);
        }
        return new CudaActivations(pointer + 4L * from, rowCapacity, width, stride, hostMapped);
    }

    @Override
    public Activations rows(int from, int count) {
        if (from < 0 || count < 0 || from + count > rowCapacity) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + (from + count) + ") of " + rowCapacity);
        }
        return new CudaActivations(pointer + 4L * from * stride, count, cols, stride, hostMapped);
    }

    boolean contiguous() {
        return stride == cols;
    }
}
