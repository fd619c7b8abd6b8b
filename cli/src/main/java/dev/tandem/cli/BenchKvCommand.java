package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.bench.kv.KvTransferBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code tandem bench kv}: Splitwise's KV transfer, prompt machine's cache to token machine's
 * cache over Aeron IPC, layer by layer as the nodes move it, against copying the same bytes out of
 * the device's memory and back, measured in the same run.
 */
@Command(name = "kv", mixinStandardHelpOptions = true,
        description = "KV transfer GB/s per layer from one KV cache to another over Aeron, against the device's copy out and back.")
final class BenchKvCommand implements Callable<Integer> {
    @Mixin
    DeviceOptions device = new DeviceOptions();

    @Option(names = "--layers", defaultValue = "32", description = "Layers (default ${DEFAULT-VALUE}, Mixtral-8x7B's).")
    int layers;

    @Option(names = "--kv-heads", defaultValue = "8", description = "KV heads (default ${DEFAULT-VALUE}).")
    int kvHeads;

    @Option(names = "--head-dim", defaultValue = "128", description = "Head dimension (default ${DEFAULT-VALUE}).")
    int headDim;

    @Option(names = "--tokens", split = ",", defaultValue = "512,2048", description = "Prompt lengths (default ${DEFAULT-VALUE}).")
    int[] tokens;

    @Option(names = "--repeats", defaultValue = "3", description = "Transfers a prompt length after a warm-up; the median is reported (default ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--json", description = "Also write the results as JSON.")
    Path json;

    @Override
    public Integer call() throws Exception {
        if (layers < 1 || kvHeads < 1 || headDim < 1 || repeats < 1 || java.util.Arrays.stream(tokens).anyMatch(t -> t < 1)) {
            throw new IllegalArgumentException("--layers, --kv-heads, --head-dim, --tokens and --repeats must be >= 1");
        }
        List<KvTransferBenchmark.Result> results = KvTransferBenchmark.run(device.spec(0), layers, kvHeads, headDim,
                tokens, repeats, DeviceOptions.log());
        System.out.println("| prompt tokens | MB a layer | transfer ms a layer | transfer GB/s | copy out and back ms a layer | copy GB/s | ratio |");
        System.out.println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (KvTransferBenchmark.Result r : results) {
            System.out.printf(Locale.ROOT, "| %d | %.2f | %.3f | %.2f | %.3f | %.2f | %.2f |%n", r.tokens(),
                    r.bytesPerLayer() / 1e6, r.transferMsPerLayer(), r.transferGbPerSecond(), r.boundMsPerLayer(),
                    r.boundGbPerSecond(), r.ratio());
        }
        if (json != null) {
            Files.writeString(json, new ObjectMapper().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(Map.of("device", String.valueOf(device.device), "results", results)));
        }
        return 0;
    }
}
