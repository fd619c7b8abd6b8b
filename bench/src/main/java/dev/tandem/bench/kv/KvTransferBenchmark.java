package dev.tandem.bench.kv;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.TransportConfig;
import dev.tandem.transport.kv.KvSink;
import dev.tandem.transport.kv.KvTransferReceiver;
import dev.tandem.transport.kv.KvTransferSender;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Splitwise's KV transfer as the nodes run it, prompt machine to token machine in one process:
 * each layer's keys and values read out of one KV cache (the prompt machine's), sent over Aeron
 * IPC, and written into another (the token machine's), both caches on {@code device}, the receiver
 * on its own thread with its own backend. Beside it, in the same run, the bound: the same bytes
 * copied out of the device's memory into host memory and back (memcpy on the CPU, DMA on a GPU).
 */
public final class KvTransferBenchmark {
    private static final int BLOCK = 16;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);
    private static final long TRANSFER_TIMEOUT_S = 120;
    private static final int MESSAGE_TOKENS = 256;  // positions a message, as a prompt chunk (2 MB at Mixtral's 1024)

    /** One prompt length's figures: per layer and over all layers, transfer and bound. */
    public record Result(int tokens, int layers, int kvDim, long bytesPerLayer, double transferMsPerLayer,
                         double transferGbPerSecond, double boundMsPerLayer, double boundGbPerSecond) {
        public double ratio() {
            return transferGbPerSecond / boundGbPerSecond;
        }
    }

    private KvTransferBenchmark() {
    }

    /** {@code repeats} transfers a prompt length after one warm-up; the median transfer is reported. */
    public static List<Result> run(BackendSpec device, int layers, int kvHeads, int headDim, int[] promptTokens,
                                   int repeats, Consumer<String> log) throws Exception {
        int kvDim = kvHeads * headDim;
        int maxTokens = java.util.Arrays.stream(promptTokens).max().orElseThrow();
        List<Result> results = new ArrayList<>();
        try (AeronNode aeron = AeronNode.launch(TransportConfig.defaults());
             ComputeBackend promptSide = device.open(log);
             ComputeBackend tokenSide = device.open(line -> { })) {
            int blocks = (maxTokens + BLOCK - 1) / BLOCK;
            KvStorage source = promptSide.allocateKv(layers, blocks, BLOCK, kvHeads, headDim);
            KvStorage target = tokenSide.allocateKv(layers, blocks, BLOCK, kvHeads, headDim);
            int[] slots = new int[maxTokens];
            for (int i = 0; i < maxTokens; i++) {
                slots[i] = i;
            }
            fill(promptSide, source, layers, slots, kvDim);
            TokenMachine tokenMachine = new TokenMachine(tokenSide, target, slots);
            String channel = "aeron:ipc";
            int stream = 0x7e00;
            try (KvTransferReceiver receiver = new KvTransferReceiver(aeron.aeron(), channel, stream, layers, kvDim,
                    MESSAGE_TOKENS, tokenMachine);
                 KvTransferSender sender = new KvTransferSender(aeron.aeron(), TransportConfig.defaults(),
                         List.of(channel), stream, kvDim, MESSAGE_TOKENS).awaitConnected(CONNECT_TIMEOUT_NS)) {
                Thread poller = Thread.ofPlatform().name("kv-bench-token-machine").daemon().start(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        if (receiver.poll(64) == 0) {
                            Thread.onSpinWait();
                        }
                    }
                });
                try {
                    long transferId = 0;
                    for (int tokens : promptTokens) {
                        double[] transferNs = new double[repeats];
                        for (int r = -1; r < repeats; r++) {
                            long ns = transfer(sender, tokenMachine, ++transferId, promptSide, source, layers, kvDim,
                                    slots, tokens);
                            if (r >= 0) {
                                transferNs[r] = ns;
                            }
                        }
                        java.util.Arrays.sort(transferNs);
                        double transfer = transferNs[repeats / 2];
                        double bound = copyBound(promptSide, tokens, kvDim, layers, repeats);
                        long bytes = 2L * tokens * kvDim * Float.BYTES; // keys and values of a layer, float32 rows
                        Result result = new Result(tokens, layers, kvDim, bytes, transfer / layers / 1e6,
                                bytes * layers / transfer, bound / layers / 1e6, bytes * layers / bound);
                        log.accept(String.format(java.util.Locale.ROOT, "%d tokens: %.3f ms a layer (%.2f GB/s),"
                                + " bound %.3f ms (%.2f GB/s), %.2f×", tokens, result.transferMsPerLayer(),
                                result.transferGbPerSecond(), result.boundMsPerLayer(), result.boundGbPerSecond(),
                                result.ratio()));
                        results.add(result);
                    }
                } finally {
                    poller.interrupt();
                    poller.join(TimeUnit.SECONDS.toMillis(10));
                }
            }
            checkDelivered(promptSide, source, tokenSide, target, layers, slots, promptTokens[promptTokens.length - 1], kvDim);
        }
        return results;
    }

    /** Correct first: the token machine's cache holds what the prompt machine's held, bit for bit (first and last layer). */
    private static void checkDelivered(ComputeBackend promptSide, KvStorage source, ComputeBackend tokenSide,
                                       KvStorage target, int layers, int[] slots, int tokens, int kvDim) {
        for (int layer : new int[] {0, layers - 1}) {
            float[][] sent = {new float[tokens * kvDim], new float[tokens * kvDim]};
            float[][] got = {new float[tokens * kvDim], new float[tokens * kvDim]};
            promptSide.readKv(source, layer, slots, tokens, sent[0], sent[1]);
            tokenSide.readKv(target, layer, slots, tokens, got[0], got[1]);
            if (!java.util.Arrays.equals(sent[0], got[0]) || !java.util.Arrays.equals(sent[1], got[1])) {
                throw new IllegalStateException("layer " + layer + ": the token machine's KV differs from what was sent");
            }
        }
    }

    private static void fill(ComputeBackend backend, KvStorage kv, int layers, int[] slots, int kvDim) {
        SplittableRandom random = new SplittableRandom(17);
        float[] keys = new float[slots.length * kvDim];
        float[] values = new float[slots.length * kvDim];
        for (int layer = 0; layer < layers; layer++) {
            for (int i = 0; i < keys.length; i++) {
                keys[i] = (float) random.nextGaussian();
                values[i] = (float) random.nextGaussian();
            }
            backend.writeKvRows(kv, layer, slots, slots.length, keys, values);
        }
    }

    /** The token machine's side, on the polling thread: rows into its cache, as the node's KV handoff writes them. */
    private static final class TokenMachine implements KvSink {
        private final ComputeBackend backend;
        private final KvStorage cache;
        private final int[] slots;
        private volatile CompletableFuture<Long> done = new CompletableFuture<>();

        TokenMachine(ComputeBackend backend, KvStorage cache, int[] slots) {
            this.backend = backend;
            this.cache = cache;
            this.slots = slots;
        }

        CompletableFuture<Long> expect() {
            done = new CompletableFuture<>();
            return done;
        }

        @Override
        public void layerArrived(long transferId, int layer, int firstPosition, int count, float[] keys, float[] values) {
            backend.writeKvRows(cache, layer, java.util.Arrays.copyOfRange(slots, firstPosition, firstPosition + count),
                    count, keys, values);
        }

        @Override
        public void transferComplete(long transferId, int firstToken) {
            backend.awaitWrites();
            done.complete(System.nanoTime());
        }

        @Override
        public void transferFailed(long transferId, String reason) {
            done.completeExceptionally(new IllegalStateException("the KV transfer failed: " + reason));
        }
    }

    /** One prompt's KV, every layer, as the prompt node's tap sends it layer by layer; nanoseconds to the last write. */
    private static long transfer(KvTransferSender sender, TokenMachine tokenMachine, long transferId,
                                 ComputeBackend promptSide, KvStorage source, int layers, int kvDim, int[] slots,
                                 int tokens) throws Exception {
        CompletableFuture<Long> done = tokenMachine.expect();
        float[] keys = new float[tokens * kvDim];
        float[] values = new float[tokens * kvDim];
        long start = System.nanoTime();
        for (int layer = 0; layer < layers; layer++) {
            promptSide.readKv(source, layer, slots, tokens, keys, values);
            sender.sendLayer(0, transferId, layer, layers, 0, tokens, keys, values);
        }
        sender.sendComplete(0, transferId, layers, tokens, 0);
        return done.get(TRANSFER_TIMEOUT_S, TimeUnit.SECONDS) - start;
    }

    /** The same bytes out of the device's memory to host memory and back, every layer; median nanoseconds. */
    private static double copyBound(ComputeBackend backend, int tokens, int kvDim, int layers, int repeats) {
        int rows = 2 * tokens;                    // keys and values, float32 rows as the transfer carries them
        // freed by the GC after the backend, which unregisters it when it closes (on a device)
        MemorySegment host = Arena.ofAuto().allocate(4L * rows * kvDim, 64);
        Activations hostRows = backend.wrapHost(host, rows, kvDim);
        Activations deviceRows = backend.allocate(rows, kvDim);
        Activations back = backend.allocate(rows, kvDim);
        double[] ns = new double[repeats];
        for (int r = -1; r < repeats; r++) {
            long start = System.nanoTime();
            for (int layer = 0; layer < layers; layer++) {
                backend.copyRows(hostRows, deviceRows, rows);
                backend.awaitWrites();
                backend.copyRows(back, hostRows, rows);
            }
            backend.awaitWrites();
            if (r >= 0) {
                ns[r] = System.nanoTime() - start;
            }
        }
        java.util.Arrays.sort(ns);
        return ns[repeats / 2];
    }
}
