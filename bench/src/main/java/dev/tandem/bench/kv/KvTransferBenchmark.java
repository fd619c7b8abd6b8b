package dev.tandem.bench.kv;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.engine.CacheKvRows;
import dev.tandem.core.engine.KvLandings;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
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
 * on its own thread with its own backend. Rows travel as the caches hold them (bf16 on a GPU,
 * float32 on the CPU): out of the prompt machine's cache straight into each frame, and from the
 * received frame straight into the token machine's cache. Beside it, in the same run, the bound:
 * the same bytes copied out of the device's memory into host memory and back (memcpy on the CPU,
 * DMA on a GPU).
 */
public final class KvTransferBenchmark {
    private static final int BLOCK = 16;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);
    private static final long TRANSFER_TIMEOUT_S = 120;
    // positions a message at most, as a prompt chunk (2 MB fp32 at Mixtral's 1024); the CPU sends
    // messages of one claim each instead (KvTransferSender's framesInLog), as the prompt node does
    private static final int MESSAGE_TOKENS = 256;

    /** One prompt length's figures: per layer and over all layers, transfer and bound. */
    public record Result(int tokens, int layers, int kvDim, String kvDtype, long bytesPerLayer,
                         double transferMsPerLayer, double transferGbPerSecond, double boundMsPerLayer,
                         double boundGbPerSecond) {
        public double ratio() {
            return transferGbPerSecond / boundGbPerSecond;
        }
    }

    private KvTransferBenchmark() {
    }

    /**
     * {@code -Dtandem.kv.deviceRows=staged}: on a device, the way before rows went straight between
     * the device and the term buffers (one DMA into the sender's pinned staging frame, which Aeron
     * copies into the log; the receiver's reassembly, then one DMA from there), for a side-by-side run.
     */
    static final boolean STAGED = "staged".equals(System.getProperty("tandem.kv.deviceRows"));

    /** {@code repeats} transfers a prompt length after one warm-up; the median transfer is reported. */
    public static List<Result> run(BackendSpec device, int layers, int kvHeads, int headDim, int[] promptTokens,
                                   int repeats, Consumer<String> log) throws Exception {
        int kvDim = kvHeads * headDim;
        int maxTokens = java.util.Arrays.stream(promptTokens).max().orElseThrow();
        List<Result> results = new ArrayList<>();
        List<KvTransferSender> senders = new ArrayList<>();
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
            Dtype dtype = Dtype.ofBytes(source.elementBytes()); // the caches' own: bf16 on a GPU, float32 on the CPU
            log.accept("KV cache and frames in " + dtype);
            TokenMachine tokenMachine = new TokenMachine(tokenSide, target, slots, !STAGED);
            CacheKvRows rows = new CacheKvRows(promptSide); // the prompt node's tap hands its layers over so
            String channel = "aeron:ipc";
            int stream = 0x7e00;
            try (KvTransferReceiver receiver = new KvTransferReceiver(aeron.aeron(), channel, stream, layers, kvDim,
                    dtype, MESSAGE_TOKENS, tokenMachine);
                 KvTransferSender sender = new KvTransferSender(aeron.aeron(), TransportConfig.defaults(),
                         List.of(channel), stream, kvDim, dtype, MESSAGE_TOKENS, !promptSide.stagesHostRows())
                         .awaitConnected(CONNECT_TIMEOUT_NS)) { // as the prompt node sends
                if (STAGED || !promptSide.stagesHostRows() || !sender.sendFromDevice(promptSide, log)) {
                    promptSide.registerHost(sender.stagingMemory()); // as the prompt node does
                }
                log.accept(tokenMachine.deviceCopies() != null ? "rows DMA'd straight into and out of the term buffers"
                        : "rows through the sender's staging frame and the receiver's reassembly buffer");
                senders.add(sender); // reachable, so its staging stays mapped, until the backends close
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
                            long ns = transfer(sender, tokenMachine, rows, source, slots, ++transferId, layers, tokens);
                            if (r >= 0) {
                                transferNs[r] = ns;
                            }
                        }
                        java.util.Arrays.sort(transferNs);
                        double transfer = transferNs[repeats / 2];
                        long bytes = KvStorage.hostRowsBytes(source, tokens); // keys and values of a layer, as cached
                        double bound = copyBound(promptSide, bytes, layers, repeats);
                        Result result = new Result(tokens, layers, kvDim, dtype.name(), bytes, transfer / layers / 1e6,
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
            checkDelivered(promptSide, source, tokenSide, target, layers, slots, promptTokens[promptTokens.length - 1]);
        }
        java.lang.ref.Reference.reachabilityFence(senders);
        return results;
    }

    /**
     * Correct first: the token machine's cache holds what the prompt machine's held, bit for bit in the
     * caches' own type (first and last layer).
     */
    private static void checkDelivered(ComputeBackend promptSide, KvStorage source, ComputeBackend tokenSide,
                                       KvStorage target, int layers, int[] slots, int tokens) {
        long bytes = KvStorage.hostRowsBytes(source, tokens);
        MemorySegment sent = Arena.ofAuto().allocate(bytes, 64);
        MemorySegment got = Arena.ofAuto().allocate(bytes, 64);
        for (int layer : new int[] {0, layers - 1}) {
            promptSide.copyKvToHost(source, layer, slots, 0, tokens, sent, 0);
            promptSide.awaitWrites();
            tokenSide.copyKvToHost(target, layer, slots, 0, tokens, got, 0);
            tokenSide.awaitWrites();
            long at = sent.mismatch(got);
            if (at >= 0) {
                throw new IllegalStateException("layer " + layer + ": the token machine's KV differs from what was sent"
                        + " at byte " + at + " of " + bytes);
            }
        }
    }

    /** Seeded Gaussian rows, stored as the cache holds them (rounded to bf16 in a bf16 cache). */
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

    /** The token machine's side, on the polling thread: rows from the frames into its cache, as the node's KV handoff writes them. */
    private static final class TokenMachine implements KvSink {
        private final ComputeBackend backend;
        private final KvStorage cache;
        private final int[] slots;
        private final KvLandings landings;
        private final boolean onDevice;
        private volatile CompletableFuture<Long> done = new CompletableFuture<>();

        /** @param onDevice rows land on the device straight from the term buffers, where the backend can */
        TokenMachine(ComputeBackend backend, KvStorage cache, int[] slots, boolean onDevice) {
            this.backend = backend;
            this.cache = cache;
            this.slots = slots;
            this.landings = new KvLandings(backend);
            this.onDevice = onDevice;
        }

        @Override
        public DeviceCopies deviceCopies() {
            return onDevice ? landings.copies() : null;
        }

        @Override
        public long deviceLanding(int slot, long bytes) {
            return landings.address(slot, bytes);
        }

        @Override
        public void layerLanded(long transferId, int layer, int firstPosition, int count, int slot) {
            backend.scatterKv(cache, layer, slots, firstPosition, count, landings.rows(slot));
            landings.afterScatter();
        }

        CompletableFuture<Long> expect() {
            done = new CompletableFuture<>();
            return done;
        }

        @Override
        public void layerArrived(long transferId, int layer, int firstPosition, int count, MemorySegment rows,
                                 long offset) {
            backend.copyKvFromHost(cache, layer, slots, firstPosition, count, rows, offset);
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
    private static long transfer(KvTransferSender sender, TokenMachine tokenMachine, CacheKvRows rows, KvStorage source,
                                 int[] slots, long transferId,
                                 int layers, int tokens) throws Exception {
        CompletableFuture<Long> done = tokenMachine.expect();
        long start = System.nanoTime();
        for (int layer = 0; layer < layers; layer++) {
            sender.sendLayer(0, transferId, layer, layers, 0, tokens, rows.of(source, layer, slots, 0));
        }
        sender.sendComplete(0, transferId, layers, tokens, 0);
        return done.get(TRANSFER_TIMEOUT_S, TimeUnit.SECONDS) - start;
    }

    /**
     * The same bytes as a layer's transfer (keys and values in the cache's type) out of the device's
     * memory into host memory and back, every layer; median nanoseconds.
     */
    private static double copyBound(ComputeBackend backend, long bytes, int layers, int repeats) {
        int cols = 1024;                                    // float32 columns: any shape of the same bytes
        int rows = (int) ((bytes + 4L * cols - 1) / (4L * cols));
        // freed by the GC after the backend, which unregisters it when it closes (on a device)
        MemorySegment host = Arena.ofAuto().allocate(4L * rows * cols, 64);
        Activations hostRows = backend.wrapHost(host, rows, cols);
        Activations deviceRows = backend.allocate(rows, cols);
        Activations back = backend.allocate(rows, cols);
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
