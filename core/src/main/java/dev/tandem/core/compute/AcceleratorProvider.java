package dev.tandem.core.compute;

import java.util.function.Consumer;

/**
 * A device backend that lives in a module of its own (CUDA: {@code tandem-cuda}), found through
 * {@link java.util.ServiceLoader} so that core carries no GPU code.
 */
public interface AcceleratorProvider {
    /** The device prefix it serves: "cuda" for {@code cuda} and {@code cuda:N}. */
    String kind();

    /** Null when a device can be opened here; otherwise why not, naming what was looked for. */
    String unavailableReason();

    /**
     * A backend on device {@code ordinal}, computing with bf16 weights and KV, or float32, holding
     * at most {@code memoryShare} of the device's memory (0: no share).
     */
    ComputeBackend open(int ordinal, boolean bf16, double memoryShare, Consumer<String> log);

    /** One line about device {@code ordinal}: name, capability, memory. */
    String describe(int ordinal);
}
