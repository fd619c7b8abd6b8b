package dev.tandem.core.compute;

/**
 * A weight matrix {@code (rows, cols)}, row-major, resident wherever its backend computes: the
 * memory-mapped checkpoint on the CPU, device memory on a GPU. A vector is a matrix of one row.
 */
public interface DeviceWeight {
    int rows();

    int cols();

    /** Rows {@code [from, from + count)}, sharing storage: an expert's slice of a fused tensor. */
    DeviceWeight rowSlice(int from, int count);
}
