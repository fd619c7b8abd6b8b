package dev.tandem.core.compute;

/**
 * Float32 activations {@code (rows, cols)} owned by a backend. A column view shares storage with
 * its parent and keeps the parent's row stride, so fused projections need no copies: the q, k
 * and v of a {@code Wqkv} output are three views of one buffer.
 */
public interface Activations {
    int rowCapacity();

    int cols();

    Activations columns(int from, int width);

    /** Rows {@code [from, from + count)} as a view of their own, sharing storage. */
    Activations rows(int from, int count);
}
