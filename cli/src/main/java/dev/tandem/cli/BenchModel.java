package dev.tandem.cli;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.engine.EngineStats;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.core.synth.SynthSpec;
import dev.tandem.core.synth.SyntheticWeights;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/** What {@code bench gpu} and {@code profile} time: a checkpoint, or a preset's synthetic weights made where they load. */
final class BenchModel {
    /** Their options: {@code --model}, or {@code --preset} and {@code --layers}. */
    static final class Options {
        @picocli.CommandLine.Option(names = "--model", description = "A checkpoint directory instead of synthetic weights.")
        Path model;

        @picocli.CommandLine.Option(names = "--preset", defaultValue = "mixtral-8x7b", description = "Synthetic model"
                + " shape, weights made where they load (default ${DEFAULT-VALUE}).")
        String preset;

        @picocli.CommandLine.Option(names = "--layers", description = "Layers of the synthetic model (default: the preset's).")
        Integer layers;

        CausalLm load(ComputeBackend backend, int capacity, Consumer<String> log) {
            return BenchModel.load(model, preset, layers, backend, capacity, log);
        }

        /** The model's name in reports: the checkpoint directory's, or the preset's. */
        String name() {
            return model != null ? model.getFileName().toString() : preset;
        }
    }

    private BenchModel() {
    }

    /** {@code model} if given, else {@code preset} (with {@code layers} if given), on {@code backend}, for {@code capacity} tokens. */
    static CausalLm load(Path model, String preset, Integer layers, ComputeBackend backend, int capacity,
                         Consumer<String> log) {
        if (model != null) {
            return Models.load(model, backend, capacity);
        }
        SynthSpec spec = SynthSpec.preset(preset);
        if (layers != null) {
            spec = spec.withLayers(layers);
        }
        SyntheticWeights weights = new SyntheticWeights(spec, 1);
        log.accept(String.format("making %s (%d layers, %.1f GB of weights) where they load", preset,
                spec.numLayers(), weights.bytes() / 1e9));
        return Models.load(weights.config(), weights, backend, capacity);
    }

    /** {@code batch} random prompts of {@code promptTokens}, each decoding {@code decode} tokens; the run's stats. */
    static EngineStats run(Generator generator, ModelConfig config, int batch, int promptTokens, int decode) {
        SplittableRandom random = new SplittableRandom(batch * 31L + promptTokens);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            int[] prompt = random.ints(promptTokens, 3, config.vocabSize()).toArray();
            requests.add(new Request(prompt, decode + 1, SamplingParams.GREEDY, false, false));
        }
        generator.stats().reset();
        generator.generate(requests);
        return generator.stats();
    }
}
