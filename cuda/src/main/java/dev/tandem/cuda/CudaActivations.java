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

    boolean contiguous() {
        return stride == cols;
    }
}
