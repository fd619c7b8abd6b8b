package dev.tandem.cli;

import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.core.synth.SynthSpec;
import dev.tandem.core.synth.SyntheticCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code tandem demo}: synthesizes a small Mixtral-shaped checkpoint on first use and generates
 * from it with a batch of sequences, printing throughput. Later issues make it a local cluster.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Generate from a synthetic Mixtral-shaped model (created on first use) and print tokens/s.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Checkpoint to use (default: models/mixtral-small under the Tandem directory, synthesized if missing).")
    Path model;

    @Option(names = "--sequences", defaultValue = "8", description = "Sequences decoded together (default ${DEFAULT-VALUE}).")
    int sequences;

    @Option(names = "--prompt-tokens", defaultValue = "64", description = "Prompt length (default ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens generated per sequence (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Override
    public Integer call() {
        Path dir = model != null ? model : Path.of(System.getProperty("tandem.home", ".")).resolve("models/mixtral-small");
        if (!Files.exists(dir.resolve("config.json"))) {
            System.err.println("tandem: synthesizing a Mixtral-shaped checkpoint (preset mixtral-small) in " + dir);
            SyntheticCheckpoint.write(SynthSpec.preset("mixtral-small"), dir, 42, 4_000_000_000L,
                    line -> System.err.println("tandem: " + line));
        }
        try (CausalLm lm = Models.load(dir, new CpuBackend(), 256)) {
            var c = lm.config();
            System.out.printf("model: %s, %d layers, hidden %d, %d experts (top %d), vocab %d%n", c.architecture(),
                    c.numLayers(), c.hiddenSize(), c.numExperts(), c.expertsPerToken(), c.vocabSize());
            SplittableRandom random = new SplittableRandom(7);
            List<Request> requests = new ArrayList<>();
            for (int s = 0; s < sequences; s++) {
                int[] prompt = random.ints(promptTokens, 3, c.vocabSize()).toArray();
                requests.add(new Request(prompt, maxTokens, new SamplingParams(0.8f, 0.95f, s), false, false));
            }
            Generator generator = new Generator(lm, lm.newKvCache(sequences * (promptTokens + maxTokens), 16));
            generator.generate(List.of(requests.getFirst())); // warm-up: JIT-compile the kernels
            generator.stats().reset();
            long start = System.nanoTime();
            List<Result> results = generator.generate(requests);
            double seconds = (System.nanoTime() - start) / 1e9;
            int generated = results.stream().mapToInt(r -> r.outputIds().length).sum();
            System.out.printf("sequence 0 generated: %s%n", Json.array(results.getFirst().outputIds()));
            System.out.printf("%d sequences × (%d prompt + %d new tokens) in %.2f s%n", sequences, promptTokens,
                    maxTokens, seconds);
            System.out.printf("prefill: %.1f tokens/s   decode: %.1f tokens/s (batch %d)   overall: %.1f generated tokens/s%n",
                    generator.stats().prefillTokensPerSecond(), generator.stats().decodeTokensPerSecond(), sequences,
                    generated / seconds);
        }
        return 0;
    }
}
