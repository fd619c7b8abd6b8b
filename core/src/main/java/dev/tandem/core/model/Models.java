package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;

import java.nio.file.Path;

/** Opens a Hugging Face checkpoint directory as the model its config.json names. */
public final class Models {
    private Models() {
    }

    public static CausalLm load(Path dir, ComputeBackend backend, int maxBatchTokens) {
        ModelConfig config = ModelConfigLoader.load(dir);
        Checkpoint checkpoint = Checkpoint.open(dir);
        try {
            return switch (config.architecture()) {
                case MIXTRAL -> new MixtralModel(config, backend, checkpoint, maxBatchTokens);
                case DBRX -> new DbrxModel(config, backend, checkpoint, maxBatchTokens);
            };
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }
}
