package dev.tandem.bench;

import dev.tandem.core.compute.BackendSpec;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Prefill and decode throughput of Tandem's engine and of Jlama on one checkpoint, at several
 * batch sizes, in one process: the checkpoint is read once into the page cache, then each engine
 * is loaded, warmed up, run at every batch size and closed before the next, so that they never
 * share the cores. Both see the same random prompts and decode greedily without stopping at EOS.
 */
public final class GenerateBenchmark {
    private static final int WARMUP_DECODE_TOKENS = 4;

    /**
     * @param batchSizes         sequences generated together
     * @param promptTokens       prompt length of every sequence
     * @param decodeTokens       tokens decoded per sequence after the first (which prefill yields)
     * @param threads            compute threads for each engine
     * @param peer               also run Jlama
     * @param jlamaActivations   F32 (Tandem's numerics) or BF16
     * @param device             Tandem's device and dtype ({@link BackendSpec}); the peer runs on the CPU
     */
    public record Settings(Path model, int[] batchSizes, int promptTokens, int decodeTokens, int threads, boolean peer,
                           String jlamaActivations, long seed, String device, String dtype) {
        /** On the CPU. */
        public Settings(Path model, int[] batchSizes, int promptTokens, int decodeTokens, int threads, boolean peer,
                        String jlamaActivations, long seed) {
            this(model, batchSizes, promptTokens, decodeTokens, threads, peer, jlamaActivations, seed, "cpu", null);
        }

        public Settings {
            if (batchSizes.length == 0 || Arrays.stream(batchSizes).anyMatch(b -> b < 1)) {
                throw new IllegalArgumentException("batch sizes must be >= 1, got " + Arrays.toString(batchSizes));
            }
            if (promptTokens < 1 || decodeTokens < 1 || threads < 1) {
                throw new IllegalArgumentException("prompt tokens, decode tokens and threads must be >= 1");
            }
            if (!jlamaActivations.equals("F32") && !jlamaActivations.equals("BF16")) {
                throw new IllegalArgumentException("Jlama activations must be F32 or BF16, got " + jlamaActivations);
            }
        }

        int maxBatch() {
            return Arrays.stream(batchSizes).max().orElseThrow();
        }
    }

    private GenerateBenchmark() {
    }

    public static GenerateReport run(Settings s, MachineInfo machine, PrintStream progress) {
        if (s.peer()) {
            Peers.require(Peers.JLAMA, "Jlama (bench generate's peer; --no-peer runs Tandem alone)");
        }
        long start = System.nanoTime();
        int vocab = vocabSize(s.model());
        warmPageCache(s.model(), progress);
        List<Throughput> results = new ArrayList<>();
        long invalidJlamaTokens = 0;
        progress.println("tandem: loading Tandem");
        BackendSpec backend = new BackendSpec(s.device(), s.dtype(), s.threads());
        try (TandemEngine tandem = new TandemEngine(s.model(), backend, progress, s.maxBatch(), s.promptTokens(),
                s.promptTokens() + s.decodeTokens() + 1)) {
            runAll(tandem, s, vocab, results, progress);
        }
        if (s.peer()) {
            progress.println("tandem: loading Jlama 0.8.4 (" + s.jlamaActivations() + " activations)");
            try (JlamaPeer jlama = new JlamaPeer(s.model(), s.threads(), s.jlamaActivations())) {
                runAll(jlama, s, vocab, results, progress);
                invalidJlamaTokens = jlama.invalidTokens();
            }
        }
        return new GenerateReport(s, machine, results, invalidJlamaTokens, (System.nanoTime() - start) / 1e9);
    }

    private static void runAll(GenerationEngine engine, Settings s, int vocab, List<Throughput> results,
                               PrintStream progress) {
        progress.println("tandem: " + engine.name() + ": warm-up");
        engine.run(prompts(Math.min(2, s.maxBatch()), s.promptTokens(), vocab, s.seed() - 1), WARMUP_DECODE_TOKENS);
        for (int batch : s.batchSizes()) {
            ForeignLoad load = ForeignLoad.start();
            Throughput t = engine.run(prompts(batch, s.promptTokens(), vocab, s.seed()), s.decodeTokens());
            t = t.withForeignLoad(load.fraction());
            progress.printf("tandem: %s batch %d: prefill %d tokens in %.2f s (%.2f tok/s), decode %d tokens in %.2f s"
                            + " (%.2f tok/s); other processes took %.0f%% of the CPU meanwhile%n", engine.name(), batch,
                    t.prefillTokens(), t.prefillSeconds(), t.prefillTokensPerSecond(), t.decodeTokens(),
                    t.decodeSeconds(), t.decodeTokensPerSecond(), 100 * t.foreignLoad());
            results.add(t);
        }
    }

    /** {@code batch} prompts of uniform random ids, skipping the first three (special tokens). */
    static int[][] prompts(int batch, int length, int vocab, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[][] prompts = new int[batch][];
        for (int b = 0; b < batch; b++) {
            prompts[b] = random.ints(length, 3, vocab).toArray();
        }
        return prompts;
    }

    private static int vocabSize(Path dir) {
        Path config = dir.resolve("config.json");
        try {
            JsonNode vocab = new ObjectMapper().readTree(config.toFile()).get("vocab_size");
            if (vocab == null || !vocab.canConvertToInt()) {
                throw new IllegalArgumentException(config + ": no integer vocab_size");
            }
            return vocab.asInt();
        } catch (IOException e) {
            throw new UncheckedIOException(config + ": " + e.getMessage(), e);
        }
    }

    /** Reads every shard once, so that neither engine pays for the disk and the first to run has no handicap. */
    private static void warmPageCache(Path dir, PrintStream progress) {
        long start = System.nanoTime();
        long bytes = 0;
        ByteBuffer buffer = ByteBuffer.allocateDirect(16 << 20);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList()) {
                try (FileChannel channel = FileChannel.open(f, StandardOpenOption.READ)) {
                    for (int n; (n = channel.read(buffer.clear())) > 0; ) {
                        bytes += n;
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
        }
        progress.printf("tandem: read %.2f GB of weights into the page cache in %.1f s%n", bytes / 1e9,
                (System.nanoTime() - start) / 1e9);
    }
}
