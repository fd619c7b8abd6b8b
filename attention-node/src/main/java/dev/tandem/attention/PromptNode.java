package dev.tandem.attention;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.KvRowSource;
import dev.tandem.core.engine.PrefillKvTap;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.Result;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import dev.tandem.transport.kv.KvTransferSender;

import java.io.BufferedReader;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A Splitwise prompt machine: the whole model in one process (colocated), continuous batching.
 * A request with a KV destination runs its prefill only: as each layer's attention finishes over a
 * prompt chunk, that layer's keys and values leave for the token machine over Aeron
 * ({@link PrefillKvTap}), while the next layer computes; the first token closes the transfer and
 * the token machine decodes the rest. A request without one (lent to the mixed pool) runs whole.
 */
public final class PromptNode implements AutoCloseable {
    private static final long IDLE_PARK_NS = TimeUnit.MICROSECONDS.toNanos(200);
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.MINUTES.toNanos(2);

    private final int id;
    private final CausalLm model;
    private final Generator generator;
    private final AeronNode aeron;
    private final KvTransferSender sender;
    private final PrefillKvTap tap;
    private final Map<Long, Integer> destinations = new ConcurrentHashMap<>(); // transfer → token machine
    private final Map<Long, String> failedTransfers = new ConcurrentHashMap<>();

    /**
     * @param kvChannels one per token machine ({@code aeron:ipc} on the shared media driver in
     *                   {@code aeronDirectory}, or {@code aeron:udp?endpoint=host:port}); token machine
     *                   t listens on stream {@code kvStreamBase + t}
     */
    public PromptNode(Path checkpoint, int id, BackendSpec backendSpec, int maxBatchTokens, int kvTokens, String aeronDirectory,
                      List<String> kvChannels, int kvStreamBase) {
        this.id = id;
        ComputeBackend backend = backendSpec.open(line -> System.err.println("prompt node " + id + ": " + line));
        CausalLm lm = Models.load(checkpoint, backend, maxBatchTokens);
        try {
            ModelConfig c = lm.config();
            int kvDim = c.numKvHeads() * c.headDim();
            PagedKvCache cache = lm.newKvCache(kvTokens, CausalLm.SERVING_BLOCK_SIZE);
            this.aeron = kvChannels.isEmpty() ? null
                    : AeronNode.launch(TransportConfig.defaults().withAeronDirectoryName(aeronDirectory));
            // frames carry KV as this cache holds it (bf16 on a GPU): no conversion on either machine
            this.sender = aeron == null ? null : new KvTransferSender(aeron.aeron(), TransportConfig.defaults(),
                    kvChannels, kvStreamBase, kvDim, Dtype.ofBytes(cache.storage().elementBytes()), maxBatchTokens,
                    !backend.stagesHostRows()).awaitConnected(CONNECT_TIMEOUT_NS); // CPU copies: frames in the log
            if (sender != null && backend.stagesHostRows()
                    && !sender.sendFromDevice(backend, line -> System.err.println("prompt node " + id + ": kv: " + line))) {
                backend.registerHost(sender.stagingMemory()); // a device copies rows into the frames by DMA
            }
            this.tap = new PrefillKvTap(backend, this::sendRows);
            lm.observeLayers(tap);
            this.generator = new Generator(lm, cache);
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        this.model = lm;
    }

    /** Serves until {@code in} closes and the work in flight is done. */
    public void serve(BufferedReader in, PrintStream out) {
        serve(in, out, true);
    }

    /** {@code filesAllowed}: false for lines from the network, which may not name files ({@code logits_out}). */
    public void serve(BufferedReader in, PrintStream out, boolean filesAllowed) {
        NodeRequests requests = new NodeRequests("prompt node " + id, out, model.config().vocabSize(), this::submit,
                () -> "{}", () -> generator.stats().reset(), filesAllowed);
        requests.start(in);
        try {
            while (!requests.inputClosed() || generator.hasWork()) {
                if (generator.hasWork()) {
                    generator.step();
                } else {
                    LockSupport.parkNanos(IDLE_PARK_NS);
                }
            }
        } catch (RuntimeException e) {
            String reason = "prompt node " + id + " failed: " + e.getMessage();
            requests.failAll(reason);
            throw new TandemException(reason, e);
        } finally {
            requests.stop();
        }
    }

    private RequestHandle submit(com.fasterxml.jackson.databind.JsonNode line, Request request,
                                 GenerationListener listener) {
        if (!line.has("kv_to")) {
            return generator.submit(request, listener);
        }
        int destination = line.get("kv_to").asInt();
        if (sender == null || destination < 0 || destination >= sender.destinations()) {
            throw new TandemException("kv_to " + destination + " is not a token machine of this cluster (there are "
                    + (sender == null ? 0 : sender.destinations()) + ")");
        }
        long transfer = line.path("kv_transfer").asLong();
        destinations.put(transfer, destination);
        Request prefillOnly = new Request(request.prompt(), 1, request.sampling(), request.stopAtEos(), false);
        return generator.submit(prefillOnly, new Prefill(transfer, destination, request.prompt().length, listener));
    }

    /** Called by the tap on the stepping thread, between layers. */
    private void sendRows(long transfer, int layer, int firstPosition, int count, KvRowSource rows) {
        Integer destination = destinations.get(transfer);
        if (destination == null || failedTransfers.containsKey(transfer)) {
            return;
        }
        try {
            sender.sendLayer(destination, transfer, layer, model.config().numLayers(), firstPosition, count, rows);
        } catch (TandemException e) {
            failedTransfers.put(transfer, e.getMessage()); // fails this request only, not the batch
        }
    }

    /** One request's prefill with its KV going out: tracks its blocks, closes the transfer with the first token. */
    private final class Prefill implements GenerationListener {
        private final long transfer;
        private final int destination;
        private final int promptLength;
        private final GenerationListener inner;
        private int[] blocks;

        Prefill(long transfer, int destination, int promptLength, GenerationListener inner) {
            this.transfer = transfer;
            this.destination = destination;
            this.promptLength = promptLength;
            this.inner = inner;
        }

        @Override
        public void onAdmitted(int[] blockTable) {
            blocks = blockTable;
            tap.track(blockTable, transfer);
        }

        @Override
        public void onToken(int token) {
            if (!failedTransfers.containsKey(transfer)) {
                try {
                    sender.sendComplete(destination, transfer, model.config().numLayers(), promptLength, token);
                } catch (TandemException e) {
                    failedTransfers.put(transfer, e.getMessage());
                    return;
                }
                inner.onToken(token);
            }
        }

        @Override
        public void onDone(Result result) {
            end();
            String failed = failedTransfers.remove(transfer);
            if (failed != null) {
                inner.onError("KV transfer to token machine " + destination + " failed: " + failed);
            } else {
                inner.onDone(result.outputIds().length > 0 ? new Result(result.outputIds(), null, "prefilled") : result);
            }
        }

        @Override
        public void onError(String message) {
            end();
            failedTransfers.remove(transfer);
            inner.onError(message);
        }

        private void end() {
            if (blocks != null) {
                tap.untrack(blocks);
            }
            destinations.remove(transfer);
        }
    }

    @Override
    public void close() {
        if (sender != null) {
            sender.close();
            aeron.close();
        }
        model.close();
    }
}
