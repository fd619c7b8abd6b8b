package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;

import java.nio.file.Path;
import java.util.function.IntPredicate;

/**
 * Opens a Hugging Face checkpoint directory as the model its config.json names: whole
 * (colocated), or one side of the attention/FFN split.
 */
public final class Models {
    private Models() {
    }

    /**
     * The colocated model: attention side and every expert in this process. The model owns
     * {@code backend}: it closes it, and so does a load that fails.
     */
    public static CausalLm load(Path dir, ComputeBackend backend, int maxBatchTokens) {
        CausalLm lm = loadAttention(dir, backend, maxBatchTokens);
        try {
            ExpertFfn[][] ffns = expertFfns(lm.config(), backend, ((DecoderModel) lm).checkpoint, e -> true);
            ExpertBank all = new LoadedExperts(lm.config(), ffns, ((DecoderModel) lm).checkpoint, null);
            lm.useDispatch(new LocalMoeDispatch(backend, lm.config(), all, maxBatchTokens));
            return lm;
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
    }

    /** The attention side only: embeddings, attention, gates, final norm, LM head; owns {@code backend}. */
    public static CausalLm loadAttention(Path dir, ComputeBackend backend, int maxBatchTokens) {
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

    /** The experts {@code holds} accepts, for every layer; owns {@code backend}. */
    public static LoadedExperts loadExperts(Path dir, ComputeBackend backend, IntPredicate holds) {
        Checkpoint checkpoint = null;
        try {
            ModelConfig config = ModelConfigLoader.load(dir);
            checkpoint = Checkpoint.open(dir);
            return new LoadedExperts(config, expertFfns(config, backend, checkpoint, holds), checkpoint, backend);
        } catch (RuntimeException e) {
            if (checkpoint != null) {
                checkpoint.close();
            }
            backend.close();
            throw e;
        }
    }

    private static ExpertFfn[][] expertFfns(ModelConfig config, ComputeBackend backend, Checkpoint checkpoint,
                                           IntPredicate holds) {
        return switch (config.architecture()) {
            case MIXTRAL -> MixtralModel.experts(config, backend, checkpoint, holds);
            case DBRX -> DbrxModel.experts(config, backend, checkpoint, holds);
        };
    }
}
