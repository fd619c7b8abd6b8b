package dev.tandem.cli;

import dev.tandem.attention.PromptNode;
import dev.tandem.core.TandemException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code tandem prompt-node}: one Splitwise prompt machine; request lines on stdin, results on stdout. */
@Command(name = "prompt-node", mixinStandardHelpOptions = true,
        description = "Run a prompt machine (the whole model, colocated) that prefills and streams each layer's KV cache to token machines over Aeron.")
final class PromptNodeCommand implements Callable<Integer> {
    @Mixin
    RequestChannelOptions requests;

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory.")
    Path model;

    @Option(names = "--id", defaultValue = "0", description = "This prompt machine's id (default ${DEFAULT-VALUE}).")
    int id;

    @Option(names = "--aeron-dir", description = "The media driver's directory (aeron:ipc to token machines on this host).")
    String aeronDirectory;

    @Option(names = "--token-machines", defaultValue = "0",
            description = "Token machines reachable over aeron:ipc, numbered from 0 (default ${DEFAULT-VALUE}).")
    int tokenMachines;

    @Option(names = "--kv-channels", split = ",",
            description = "Instead of --token-machines: one Aeron channel per token machine, e.g. aeron:udp?endpoint=10.0.0.2:40500.")
    List<String> kvChannels;

    @Option(names = "--kv-stream-base", defaultValue = "28672",
            description = "Token machine t listens on stream base + t (default ${DEFAULT-VALUE}).")
    int kvStreamBase;

    @Option(names = "--threads", description = "Kernel threads (default: all cores).")
    Integer threads;

    @Option(names = "--max-batch-tokens", defaultValue = "256", description = "Tokens per step (default ${DEFAULT-VALUE}).")
    int maxBatchTokens;

    @Option(names = "--kv-tokens", defaultValue = "8192", description = "KV cache positions (default ${DEFAULT-VALUE}).")
    int kvTokens;

    @picocli.CommandLine.Mixin
    DeviceOptions device;

    @Option(names = "--gpu-memory-utilization", description = "The most of its GPU's memory this process holds, in (0, 1],"
            + " for a prompt machine that shares its GPU (default: no share).")
    Double gpuMemoryUtilization;

    @Override
    public Integer call() {
        List<String> channels = kvChannels != null ? kvChannels
                : new ArrayList<>(Collections.nCopies(tokenMachines, "aeron:ipc"));
        if (!channels.isEmpty() && aeronDirectory == null && channels.contains("aeron:ipc")) {
            throw new TandemException("aeron:ipc to token machines needs --aeron-dir, the shared media driver's directory");
        }
        try (PromptNode node = new PromptNode(model, id,
                device.spec(threads == null ? 0 : threads).withMemoryShare(gpuMemoryUtilization), maxBatchTokens, kvTokens, aeronDirectory, channels,
                kvStreamBase)) {
            System.err.println("tandem: prompt node " + id + " ready (" + channels.size() + " token machines)");
            requests.serve(model, node::serve);
        }
        return 0;
    }
}
