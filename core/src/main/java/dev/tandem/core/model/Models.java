package dev.tandem.core.model;

import dev.tandem.core.checkpoint.Checkpoint;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.core.synth.SyntheticWeights;

import java.nio.file.Path;
import java.util.function.IntPredicate;

/**
 * Opens a Hugging Face checkpoint directory (or any {@link WeightSource}) as the model its
 * config names: whole (colocated), or one side of the attention/FFN split.
 */
public final class Models {
    private Models() {
    }

    /**
     * The colocated model: attention side and every expert in this process. The model owns
     * {@code backend}: it closes it, and so does a load that fails.
     */
    public static CausalLm load(Path dir, ComputeBackend backend, int maxBatchTokens) {
        Opened opened = Opened.of(dir, backend);
        return load(opened.config, opened.weights, backend, maxBatchTokens);
    }

    /** The colocated model from {@code weights}, which it owns along with {@code backend}. */
    public static CausalLm load(ModelConfig config, WeightSource weights, ComputeBackend backend, int maxBatchTokens) {
        CausalLm lm = attentionSide(config, weights, backend, maxBatchTokens);
        try {
            ExpertFfn[][] ffns = expertFfns(config, backend, weights, e -> true);
            ExpertBank all = new LoadedExperts(config, ffns, weights, null);
            lm.useDispatch(new LocalMoeDispatch(backend, config, all, maxBatchTokens));
            backend.weightsLoaded();
            return lm;
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
    }

    /** The attention side only: embeddings, attention, gates, final norm, LM head; owns {@code backend}. */
    public static CausalLm loadAttention(Path dir, ComputeBackend backend, int maxBatchTokens) {
        Opened opened = Opened.of(dir, backend);
        CausalLm lm = attentionSide(opened.config, opened.weights, backend, maxBatchTokens);
        backend.weightsLoaded();
        return lm;
    }

    private static CausalLm attentionSide(ModelConfig config, WeightSource weights, ComputeBackend backend,
                                          int maxBatchTokens) {
        try {
            return switch (config.architecture()) {
                case MIXTRAL -> new MixtralModel(config, backend, weights, maxBatchTokens);
                case DBRX -> new DbrxModel(config, backend, weights, maxBatchTokens);
            };
        } catch (RuntimeException e) {
            weights.close();
            backend.close();
            throw e;
        }
    }

    /** The experts {@code holds} accepts, for every layer; owns {@code backend}. */
    public static LoadedExperts loadExperts(Path dir, ComputeBackend backend, IntPredicate holds) {
        Opened opened = Opened.of(dir, backend);
        try {
            LoadedExperts experts = new LoadedExperts(opened.config,
                    expertFfns(opened.config, backend, opened.weights, holds), opened.weights, backend);
            backend.weightsLoaded();
            return experts;
        } catch (RuntimeException e) {
            opened.weights.close();
            backend.close();
            throw e;
        }
    }

    /** A checkpoint directory's config and weights, read before any model is built. */
    private record Opened(ModelConfig config, WeightSource weights) {
        /** Closes {@code backend} if the directory cannot be read: else its kernel threads outlive the failure, spinning. */
        static Opened of(Path dir, ComputeBackend backend) {
            try {
                ModelConfig config = ModelConfigLoader.load(dir);
                WeightSource described = SyntheticWeights.describedIn(dir);
                return new Opened(config, described != null ? described : WeightSource.of(Checkpoint.open(dir)));
            } catch (RuntimeException e) {
                backend.close();
                throw e;
            }
        }
    }

    private static ExpertFfn[][] expertFfns(ModelConfig config, ComputeBackend backend, WeightSource weights,
                                           IntPredicate holds) {
        return switch (config.architecture()) {
            case MIXTRAL -> MixtralModel.experts(config, backend, weights, holds);
            case DBRX -> DbrxModel.experts(config, backend, weights, holds);
        };
    }
}
