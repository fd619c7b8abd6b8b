package dev.tandem.core.model;

/** The experts one process holds: all of them when colocated, its share on an expert node. */
public interface ExpertBank {
    int layers();

    int experts();

    boolean holds(int expert);

    /** The FFN of {@code expert} in {@code layer}; only for experts this bank {@link #holds}. */
    ExpertFfn expert(int layer, int expert);
}
