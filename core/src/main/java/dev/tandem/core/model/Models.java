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

    /** The model owns {@code backend}: it closes it, and so does a load that fails. */
    public static CausalLm load(Path dir, ComputeBackend backend, int maxBatchTokens) {
        Checkpoint checkpoint = null;
        try {
            ModelConfig config = ModelConfigLoader.load(dir);
            checkpoint = Checkpoint.open(dir);
            return switch (config.architecture()) {
                case MIXTRAL -> new MixtralModel(config, backend, checkpoint, maxBatchTokens);
                case DBRX -> new DbrxModel(config, backend, checkpoint, maxBatchTokens);
            };
        } catch (RuntimeException e) {
            if (checkpoint != null) {
                checkpoint.close();
            }
            backend.close(); // else its kernel threads outlive the failure, spinning
            throw e;
        }
    }
}
