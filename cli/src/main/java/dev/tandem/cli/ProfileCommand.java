package dev.tandem.cli;

import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.model.CausalLm;
import dev.tandem.sim.MachineProfile;
import dev.tandem.sim.ProfileFit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tandem profile}: a {@link MachineProfile} measured on this machine. The colocated engine
 * prefills prompts of several lengths alone and decodes batches of several sizes at one context
 * and the largest batch at a second; the lines through those steps are the profile. The KV
 * transfer, the power and the cost are not measured here: the file says so, and leaves them 0.
 */
@Command(name = "profile", mixinStandardHelpOptions = true,
        description = "Measure a performance profile for tandem simulate and tandem plan on this machine: prefill time"
                + " against prompt tokens, decode step time against batch and context, as lines through the steps.")
final class ProfileCommand implements Callable<Integer> {
    private static final int KV_BLOCK = 16;
    private static final int REPEATS = 3;

    @Mixin
    BenchModel.Options weights;

    @Mixin
    DeviceOptions device;

    @Option(names = "--prefill-tokens", split = ",", defaultValue = "64,256,1024",
            description = "Prompt lengths prefilled alone (default ${DEFAULT-VALUE}).")
    int[] prefillTokens;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "1,4,16",
            description = "Decode batch sizes at the first context (default ${DEFAULT-VALUE}).")
    int[] batchSizes;

    @Option(names = "--contexts", split = ",", defaultValue = "64,512",
            description = "Two prompt lengths to decode after: every batch size at the first, the largest at the second.")
    int[] contexts;

    @Option(names = "--decode-tokens", defaultValue = "16", description = "Decode steps timed a run (default ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--max-batch-tokens", description = "The token budget of a step in the engine the profile stands for"
            + " (tandem serve's --max-batch-tokens), which the simulator batches to (default: the longest --prefill-tokens).")
    Integer maxBatchTokens;

    @Option(names = "--mixed-prefill-factor", defaultValue = "0", description = "How the simulator costs a step of prompt"
            + " and decode tokens: 0, a prefill and a decode step in turn; F, F times a prefill of all its tokens"
            + " (default ${DEFAULT-VALUE}).")
    double mixedPrefillFactor;

    @Option(names = "--threads", description = "Kernel threads, as the served engine will have them (tandem serve's"
            + " --threads; default: all cores).")
    Integer threads;

    @Option(names = "--name", description = "The profile's name (default: the model and the device).")
    String name;

    @Option(names = "--out", required = true, description = "Where to write the profile.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (contexts.length != 2 || contexts[0] < 1 || contexts[1] <= contexts[0]) {
            throw new IllegalArgumentException("--contexts takes two prompt lengths, the second the longer: " + Arrays.toString(contexts));
        }
        if (prefillTokens.length < 2 || batchSizes.length < 2) {
            throw new IllegalArgumentException("a line needs two points: give at least two --prefill-tokens and --batch-sizes");
        }
        if (maxBatchTokens != null && maxBatchTokens < 1 || !(mixedPrefillFactor >= 0)) {
            throw new IllegalArgumentException("--max-batch-tokens must be >= 1 and --mixed-prefill-factor >= 0");
        }
        if (device.device == null) {
            device.device = "cpu";
        }
        int maxBatch = Arrays.stream(batchSizes).max().orElseThrow();
        int maxPrefill = Arrays.stream(prefillTokens).max().orElseThrow();
        // a step's tokens: the longest prompt alone, or every prompt of the largest batch at the first context, so
        // that its sequences all decode together; at the second context, as many sequences as that budget prefills
        int capacity = Math.max(maxPrefill, maxBatch * contexts[0]);
        int farBatch = Math.max(1, Math.min(maxBatch, capacity / contexts[1]));
        int kvTokens = Math.max(maxBatch * blocks(contexts[0] + decodeTokens + 1),
                Math.max(farBatch * blocks(contexts[1] + decodeTokens + 1), blocks(maxPrefill + 1))) * KV_BLOCK;
        List<String> notes = new ArrayList<>();
        try (ComputeBackend backend = device.spec(threads == null ? 0 : threads).open(DeviceOptions.log());
             CausalLm lm = weights.load(backend, capacity, this::log)) {
            ModelConfig config = lm.config();
            Generator generator = new Generator(lm, lm.newKvCache(kvTokens, KV_BLOCK));
            log("warm-up");
            BenchModel.run(generator, config, 2, contexts[0], 4);
            double[] prefillMs = new double[prefillTokens.length];
            for (int i = 0; i < prefillTokens.length; i++) {
                int t = prefillTokens[i];
                BenchModel.run(generator, config, 1, t, 0); // untimed: this length's first run compiles and allocates
                prefillMs[i] = median(() -> t * 1e3 / BenchModel.run(generator, config, 1, t, 0).prefillTokensPerSecond());
                note(notes, String.format(Locale.ROOT, "prefill %d tokens alone: %.3f ms", t, prefillMs[i]));
            }
            // steps with no prompt token only, at the batch they really held
            double[] batches = new double[batchSizes.length];
            double[] stepMs = new double[batchSizes.length];
            for (int i = 0; i < batchSizes.length; i++) {
                double[] point = decodePoint(generator, config, batchSizes[i], contexts[0]);
                batches[i] = point[0];
                stepMs[i] = point[1];
                note(notes, String.format(Locale.ROOT, "decode %.1f sequences after %d prompt tokens: %.3f ms a step",
                        batches[i], contexts[0], stepMs[i]));
            }
            double[] far = decodePoint(generator, config, farBatch, contexts[1]);
            note(notes, String.format(Locale.ROOT, "decode %.1f sequences after %d prompt tokens: %.3f ms a step",
                    far[0], contexts[1], far[1]));
            double farMs = far[1];
            double mid = decodeTokens / 2.0; // a run's steps see the context grow by one a step
            ProfileFit.Prefill prefill = ProfileFit.prefill(Arrays.stream(prefillTokens).asDoubleStream().toArray(),
                    prefillMs);
            if (!(prefill.perTokenMs() > 0)) {
                throw new dev.tandem.core.TandemException("prefill time did not grow with the prompt (" + notes
                        + "): the runs are too short to time on this machine; give longer --prefill-tokens");
            }
            ProfileFit.Decode decode = ProfileFit.decode(batches, stepMs, contexts[0] + mid, far[0], contexts[1] + mid,
                    farMs);
            String deviceName = device.device;
            String what = weights.name();
            MachineProfile profile = new MachineProfile(name != null ? name : what + "-" + deviceName,
                    "tandem profile on " + deviceName + ", " + LocalDate.now(), prefill.interceptMs(), prefill.perTokenMs(),
                    decode.interceptMs(), decode.perSequenceMs(), decode.perContextTokenMs(), 0, 0,
                    maxBatchTokens != null ? maxBatchTokens : maxPrefill, 0, 0, 0, 0, mixedPrefillFactor, 0, 1, 1);
            List<String> head = new ArrayList<>();
            head.add("Measured by tandem profile on " + deviceName + " (" + what + ", " + config.numLayers() + " layers), "
                    + LocalDate.now() + "; the median of " + REPEATS + " runs each:");
            head.addAll(notes);
            head.add("Not measured here: the KV transfer (bench kv), power and cost; they are left 0.");
            Files.writeString(out, profile.toProperties(head));
            log("wrote " + out);
        }
        return 0;
    }

    /** {mean sequences, ms} of the decode-only steps of {@code batch} prompts of {@code context}: the median of three. */
    private double[] decodePoint(Generator generator, ModelConfig config, int batch, int context) {
        BenchModel.run(generator, config, batch, context, 4); // untimed: this batch's first run captures its graph
        double[][] runs = new double[REPEATS][];
        for (int r = 0; r < REPEATS; r++) {
            var stats = BenchModel.run(generator, config, batch, context, decodeTokens);
            runs[r] = new double[] {stats.meanDecodeBatch(), stats.meanDecodeStepMs()};
        }
        Arrays.sort(runs, java.util.Comparator.comparingDouble(p -> p[1]));
        return runs[REPEATS / 2];
    }

    /** KV blocks for one sequence of {@code tokens}. */
    private static int blocks(int tokens) {
        return (tokens + KV_BLOCK - 1) / KV_BLOCK;
    }

    private interface Timing {
        double ms();
    }

    private static double median(Timing timing) {
        double[] runs = new double[REPEATS];
        for (int r = 0; r < REPEATS; r++) {
            runs[r] = timing.ms();
        }
        Arrays.sort(runs);
        return runs[REPEATS / 2];
    }

    private void note(List<String> notes, String line) {
        notes.add(line);
        log(line);
    }

    private void log(String line) {
        spec.commandLine().getErr().println("profile: " + line);
    }
}
