package dev.tandem.attention;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.KvHandoff;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.engine.RequestLines;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.ClusterTransport;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import dev.tandem.transport.kv.KvLayerFlyweight;
import dev.tandem.transport.kv.KvTransferReceiver;
import dev.tandem.transport.kv.KvTransferSender;
import dev.tandem.transport.M2nSender;
import dev.tandem.transport.PeerLostException;

import java.io.BufferedReader;
import java.io.PrintStream;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * An attention node: the attention side of the model, a paged KV cache and continuous batching,
 * with the experts on expert nodes behind M2N. Requests arrive as JSON lines, results leave as
 * JSON lines ({@link RequestLines}). Every node of a cluster takes every step, idle or not, so
 * that the expert nodes can gather one frame per attention node for each (step, layer,
 * micro-batch); the node steps until its input closes.
 */
public final class AttentionNode implements AutoCloseable {
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.MINUTES.toNanos(10);
    private static final long STOP_GRACE_MS = 2_000;
    private static final long MAX_IDLE_PAUSE_NS = TimeUnit.MICROSECONDS.toNanos(500);

    private final int id;
    private final ClusterTransport transport;
    private final CausalLm model;
    private final Generator generator;
    private final DisaggregationMetrics metrics;
    private final AeronNode kvAeron;      // null unless this node takes KV from prompt machines
    private final TokenSideKv kv;         // null likewise

    public AttentionNode(ClusterConfig cluster, int id, int microBatches) {
        this(cluster, id, microBatches, null, 0);
    }

    /**
     * @param kvChannel where prompt machines send this node KV caches ({@code aeron:ipc} on the
     *                  cluster's media driver, or {@code aeron:udp?endpoint=host:port}); null: none do
     * @param kvStream  the Aeron stream of that channel
     */
    public AttentionNode(ClusterConfig cluster, int id, int microBatches, String kvChannel, int kvStream) {
        this(cluster, id, microBatches, kvChannel, kvStream, null);
    }

    /** As above; {@code clusterToken} signs this node's M2N hellos over TCP (null: the cluster has none). */
    public AttentionNode(ClusterConfig cluster, int id, int microBatches, String kvChannel, int kvStream,
                         dev.tandem.core.cluster.ClusterToken clusterToken) {
        this.id = id;
        ComputeBackend backend = cluster.attentionBackend(id).open(line -> System.err.println("attention node " + id + ": " + line));
        CausalLm lm = Models.loadAttention(cluster.model(), backend, cluster.maxBatchTokens());
        try {
            int topK = lm.config().expertsPerToken();
            this.transport = new ClusterTransport(cluster, lm.config().hiddenSize(), cluster.maxBatchTokens() * topK,
                    clusterToken);
            M2nSender sender = transport.sender(id, CONNECT_TIMEOUT_NS);
            this.metrics = new DisaggregationMetrics(lm.config().numLayers());
            lm.useDispatch(new RemoteMoeDispatch(sender, backend, new ExpertPlacement(cluster,
                    lm.config().numExperts()), lm.config().numExperts(), microBatches, cluster.maxBatchTokens(), topK,
                    lm.config().hiddenSize(), transport.wireDtype(), metrics));
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        this.model = lm;
        PagedKvCache cache = lm.newKvCache(cluster.kvTokens(), CausalLm.SERVING_BLOCK_SIZE);
        this.generator = new Generator(lm, cache, microBatches);
        if (kvChannel == null) {
            this.kvAeron = null;
            this.kv = null;
            return;
        }
        ModelConfig c = lm.config();
        int kvDim = c.numKvHeads() * c.headDim();
        Dtype kvDtype = Dtype.ofBytes(cache.storage().elementBytes()); // what the prompt machines must send
        int maxRows = (int) ((KvTransferSender.MAX_AERON_MESSAGE - KvLayerFlyweight.HEADER_LENGTH)
                / KvLayerFlyweight.payloadLength(1, kvDim, kvDtype));
        this.kvAeron = AeronNode.launch(TransportConfig.defaults().withAeronDirectoryName(cluster.aeronDirectory()));
        this.kv = new TokenSideKv(generator, cache, new KvHandoff(backend, cache), c.maxPositions(), kvDim,
                sink -> new KvTransferReceiver(kvAeron.aeron(), kvChannel, kvStream, c.numLayers(), kvDim, kvDtype,
                        maxRows, sink));
    }

    /** Serves until {@code in} closes; results and replies go to {@code out}, one JSON line each. */
    public void serve(BufferedReader in, PrintStream out) {
        serve(in, out, true);
    }

    /** {@code filesAllowed}: false for lines from the network, which may not name files ({@code logits_out}). */
    public void serve(BufferedReader in, PrintStream out, boolean filesAllowed) {
        NodeRequests requests = new NodeRequests("attention node " + id, out, model.config().vocabSize(),
                (line, request, listener) -> line.has("kv_transfer") && kv != null
                        ? kv.submit(line.get("kv_transfer").asLong(), request, listener)
                        : generator.submit(request, listener), () -> metrics.toJson(id),
                () -> {
                    metrics.reset();
                    generator.stats().reset();
                }, filesAllowed);
        requests.start(in);
        long pause = 0;
        try {
            while (!requests.inputClosed() || generator.hasWork() || kv != null && kv.hasWork()) {
                int arrived = kv == null ? 0 : kv.poll();
                long start = System.nanoTime();
                long prefilled = generator.stats().prefillTokens();
                int tokens = generator.step();
                metrics.step(System.nanoTime() - start, tokens, generator.stats().prefillTokens() == prefilled);
                if (tokens == 0 && arrived == 0) {
                    pause = Math.min(MAX_IDLE_PAUSE_NS, Math.max(10_000, pause * 2)); // idle: back off a little
                    LockSupport.parkNanos(pause);
                } else {
                    pause = 0;
                }
            }
        } catch (RuntimeException e) {
            if (e instanceof PeerLostException && requests.pending().isEmpty()
                    && requests.inputClosesWithin(STOP_GRACE_MS) && requests.pending().isEmpty()) {
                return; // stopping with nothing in flight: a node that stopped first ends our idle steps
            }
            String reason = "attention node " + id + " failed: " + e.getMessage();
            requests.failAll(reason);
            throw new TandemException(reason, e);
        } finally {
            requests.stop();
        }
    }

    @Override
    public void close() {
        if (kv != null) {
            kv.close();
            kvAeron.close();
        }
        transport.close();
        model.close();
    }
}
