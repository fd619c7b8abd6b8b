package dev.tandem.cli;

import dev.tandem.core.synth.SynthSpec;
import dev.tandem.core.synth.SyntheticCheckpoint;
import dev.tandem.core.synth.SyntheticWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code tandem synth}: a seeded random checkpoint in the real Hugging Face layout. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = "Write a synthetic bf16 checkpoint (config.json, sharded safetensors, index).")
final class SynthCommand implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "mixtral-8x7b",
            description = "mixtral-8x7b, mixtral-8x22b, dbrx (real dimensions) or mixtral-small (default ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = {"--out", "--model"}, required = true, description = "Directory to write.")
    Path out;

    @Option(names = "--layers", description = "Override the number of layers.")
    Integer layers;

    @Option(names = "--vocab", description = "Override the vocabulary size.")
    Integer vocab;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--shard-gb", defaultValue = "4", description = "Largest shard in GB (default ${DEFAULT-VALUE}).")
    double shardGb;

    @Option(names = "--describe-only", description = "Write config.json and a description of the weights instead of"
            + " safetensors: every process that loads the directory makes the same weights where it computes (a full"
            + " model's shape for node processes on a machine whose disk cannot hold it).")
    boolean describeOnly;

    @Override
    public Integer call() {
        SynthSpec spec = synthSpec(preset, layers, vocab);
        if (describeOnly) {
            SyntheticWeights.describe(spec, seed, out);
            System.err.printf("tandem: described %s (%s, %d layers, vocab %d): weights made where they are loaded%n",
                    out, preset, spec.numLayers(), spec.vocabSize());
            return 0;
        }
        long start = System.nanoTime();
        SyntheticCheckpoint.write(spec, out, seed, (long) (shardGb * 1e9), line -> System.err.println("tandem: " + line));
        System.err.printf("tandem: wrote %s (%s, %d layers, vocab %d) in %.1f s%n", out, preset, spec.numLayers(),
                spec.vocabSize(), (System.nanoTime() - start) / 1e9);
        return 0;
    }

    static SynthSpec synthSpec(String preset, Integer layers, Integer vocab) {
        SynthSpec spec = SynthSpec.preset(preset);
        if (layers != null) {
            if (layers < 1) {
                throw new IllegalArgumentException("--layers must be >= 1, got " + layers);
            }
            spec = spec.withLayers(layers);
        }
        if (vocab != null) {
            if (vocab < 2) {
                throw new IllegalArgumentException("--vocab must be >= 2, got " + vocab);
            }
            spec = spec.withVocab(vocab);
        }
        return spec;
    }
}
