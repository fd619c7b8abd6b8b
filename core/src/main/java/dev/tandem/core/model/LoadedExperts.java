package dev.tandem.core.model;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;

/** Experts loaded from a checkpoint, owning the checkpoint's mappings (and, on its own, the backend). */
public final class LoadedExperts implements ExpertBank, AutoCloseable {
    private final ModelConfig config;
    private final ExpertFfn[][] ffns; // (layer, expert), null where not held
    private final WeightSource weights;
    private final ComputeBackend ownedBackend;

    LoadedExperts(ModelConfig config, ExpertFfn[][] ffns, WeightSource weights, ComputeBackend ownedBackend) {
        this.config = config;
        this.ffns = ffns;
        this.weights = weights;
        this.ownedBackend = ownedBackend;
    }

    public ModelConfig config() {
        return config;
    }

    @Override
    public int layers() {
        return ffns.length;
    }

    @Override
    public int experts() {
        return config.numExperts();
    }

    @Override
    public boolean holds(int expert) {
        return expert >= 0 && expert < config.numExperts() && ffns[0][expert] != null;
    }

    @Override
    public ExpertFfn expert(int layer, int expert) {
        return ffns[layer][expert];
    }

    @Override
    public void close() {
        if (ownedBackend != null) {
            ownedBackend.close();
        }
        weights.close();
    }
}
