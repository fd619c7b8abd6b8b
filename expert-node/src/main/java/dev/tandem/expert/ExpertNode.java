package dev.tandem.expert;

import dev.tandem.core.cluster.ClusterConfig;
import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.core.model.ExpertExecutor;
import dev.tandem.core.model.LoadedExperts;
import dev.tandem.core.model.Models;
import dev.tandem.transport.ClusterTransport;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.FrameFlyweight;
import dev.tandem.transport.M2nReceiver;
import dev.tandem.transport.PeerLostException;
import dev.tandem.transport.RowBatch;
import dev.tandem.transport.WireRows;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

/**
 * An expert node: the weights of its experts for every layer. For each (step, layer,
 * micro-batch) it gathers the rows that all attention nodes routed to it, runs one batched FFN
 * per expert over all of them, and sends each attention node its rows back, weighted by their
 * gate weights. It serves until the attention nodes go away. On a device the rows stay there: the
 * transport DMAs them straight between the device and its buffers, bf16 rounded and widened on
 * the device, and a reply's copies wait for the experts' kernels by an event, not on the host.
 */
public final class ExpertNode implements AutoCloseable {
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.MINUTES.toNanos(10);

    private final int id;
    private final int layers;
    private final int microBatches;
    private final ComputeBackend backend;
    private final LoadedExperts experts;
    private final ClusterTransport transport;
    private final M2nReceiver receiver;
    private final ExpertExecutor executor;
    private final RowBatch in;             // float32: what the experts compute on
    private final RowBatch out;
    private final RowBatch wireIn;         // bf16 on the wire (wire_dtype = bf16), else in and out themselves
    private final RowBatch wireOut;
    private final Activations inRows;      // in's and out's rows as backend views of host memory
    private final Activations outRows;
    private final Activations computeIn;   // what the experts read and write: device rows on a device, else the views
    private final Activations computeOut;
    private final boolean deviceConverts;  // a device rounds to and widens from the bf16 wire on its side of the bus
    private final DeviceCopies copies;     // the rows stay on the device, the transport moves them; null on the host
    private final Activations pairsIn;     // the bf16 wire's rows on the device (two a float slot), or null
    private final Activations pairsOut;
    private final int[] identity;
    private final int[] expertOfRow;
    private final int[] senderOfRow;
    private final int[] slotOfRow;
    private final TokenExperts tokenExperts; // decode-sized calls on a device; null: every call through the executor
    private final float[] weightOfRow;
    private final ExpertMetrics metrics;

    public ExpertNode(ClusterConfig cluster, int id, int microBatches) {
        this(cluster, id, microBatches, null);
    }

    /** As above; over TCP only senders that sign their hellos with {@code clusterToken} are taken (null: none is asked). */
    public ExpertNode(ClusterConfig cluster, int id, int microBatches, dev.tandem.core.cluster.ClusterToken clusterToken) {
        this.id = id;
        this.microBatches = microBatches;
        int[] held = cluster.expertNodes().get(id).experts();
        ComputeBackend chosen = cluster.expertBackend(id).open(line -> System.err.println("expert node " + id + ": " + line));
        this.backend = chosen;
        this.experts = Models.loadExperts(cluster.model(), chosen, e -> java.util.Arrays.binarySearch(held, e) >= 0);
        try {
            var config = experts.config();
            this.layers = config.numLayers();
            int hidden = config.hiddenSize();
            int perSender = cluster.maxBatchTokens() * config.expertsPerToken();
            int capacity = perSender * cluster.attentionNodes().size();
            this.transport = new ClusterTransport(cluster, hidden, perSender, clusterToken);
            this.receiver = transport.receiver(id, CONNECT_TIMEOUT_NS);
            int senders = receiver.senderCount();
            in = new RowBatch(senders, capacity, hidden, Dtype.FP32);
            out = new RowBatch(senders, capacity, hidden, Dtype.FP32);
            Dtype wire = transport.wireDtype();
            wireIn = wire == Dtype.FP32 ? in : new RowBatch(senders, capacity, hidden, wire);
            wireOut = wire == Dtype.FP32 ? out : new RowBatch(senders, capacity, hidden, wire);
            inRows = view(in, capacity, hidden);
            outRows = view(out, capacity, hidden);
            boolean staged = backend.stagesHostRows(); // one DMA each way instead of kernels reaching over the bus
            computeIn = staged ? backend.allocate(capacity, hidden) : inRows;
            computeOut = staged ? backend.allocate(capacity, hidden) : outRows;
            deviceConverts = staged && wire == Dtype.BF16;
            copies = staged && hidden % 2 == 0 ? backend.openCopies() : null;
            pairsIn = copies != null && deviceConverts ? backend.allocate(capacity, hidden / 2) : null;
            pairsOut = copies != null && deviceConverts ? backend.allocate(capacity, hidden / 2) : null;
            if (copies != null) {
                wireIn.onDevice(copies, copies.address(deviceConverts ? pairsIn : computeIn));
                wireOut.onDevice(copies, copies.address(deviceConverts ? pairsOut : computeOut));
            }
            executor = new ExpertExecutor(backend, config, experts, capacity);
            identity = new int[capacity];
            for (int i = 0; i < capacity; i++) {
                identity[i] = i;
            }
            expertOfRow = new int[capacity];
            senderOfRow = new int[capacity];
            slotOfRow = new int[capacity];
            tokenExperts = TokenExperts.create(backend, config, experts, senders, cluster.maxBatchTokens());
            weightOfRow = new float[capacity];
            metrics = new ExpertMetrics(layers, config.numExperts());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private Activations view(RowBatch batch, int rows, int hidden) {
        UnsafeBuffer activations = batch.activations();
        return backend.wrapHost(MemorySegment.ofAddress(activations.addressOffset()).reinterpret(activations.capacity()),
                rows, hidden);
    }

    /** Serves steps until an attention node goes away; returns the reason. */
    public String serve() {
        try {
            for (long step = 0; ; step++) {
                for (int layer = 0; layer < layers; layer++) {
                    for (int mb = 0; mb < microBatches; mb++) {
                        long start = System.nanoTime();
                        receiver.receive(step, layer, mb, wireIn);
                        long received = System.nanoTime();
                        if (deviceConverts) {
                            WireRows.carryLayout(wireIn, in);
                        } else if (wireIn != in) {
                            WireRows.widen(wireIn, in);
                        }
                        long widened = System.nanoTime();
                        compute(layer);
                        long computed = System.nanoTime();
                        if (deviceConverts) {
                            WireRows.carryLayout(out, wireOut);
                        } else if (wireOut != out) {
                            WireRows.narrow(out, wireOut);
                        }
                        long narrowed = System.nanoTime();
                        receiver.reply(step, layer, mb, wireOut);
                        metrics.record(layer, received - start, computed - widened, System.nanoTime() - narrowed,
                                (widened - received) + (narrowed - computed));
                    }
                }
            }
        } catch (PeerLostException e) {
            return e.getMessage();
        }
    }

    /** {@code out[r] = gate[r] · E_expert[r](in[r])} for every gathered row. */
    private void compute(int layer) {
        int rows = in.rowCount();
        UnsafeBuffer routing = in.routing();
        for (int sender = 0; sender < in.peerCount(); sender++) {
            int start = in.peerRowStart(sender);
            java.util.Arrays.fill(senderOfRow, start, start + in.peerRowCount(sender), sender);
        }
        for (int r = 0; r < rows; r++) {
            int at = RowBatch.routingOffset(r);
            slotOfRow[r] = routing.getInt(at + FrameFlyweight.SLOT_FIELD_OFFSET, ByteOrder.LITTLE_ENDIAN);
            expertOfRow[r] = routing.getInt(at + FrameFlyweight.EXPERT_FIELD_OFFSET, ByteOrder.LITTLE_ENDIAN);
            weightOfRow[r] = routing.getFloat(at + FrameFlyweight.GATE_FIELD_OFFSET, ByteOrder.LITTLE_ENDIAN);
            metrics.token(expertOfRow[r]);
        }
        out.copyLayoutFrom(in);
        out.routing().putBytes(0, routing, 0, rows * FrameFlyweight.ROUTING_ENTRY_LENGTH);
        if (copies != null) { // the rows arrived on the device
            if (deviceConverts) {
                backend.widenFromBf16(computeIn, pairsIn, rows);
            }
        } else if (deviceConverts) {
            backend.copyRowsFromBf16(computeIn, wireIn.activationMemory(), rows);
        } else if (computeIn != inRows) {
            backend.copyRows(computeIn, inRows, rows);
        }
        if (tokenExperts == null || !tokenExperts.run(layer, computeIn, rows, senderOfRow, slotOfRow, expertOfRow,
                weightOfRow, computeOut)) {
            backend.zero(computeOut, rows);
            executor.run(layer, computeIn, identity, expertOfRow, weightOfRow, identity, rows, computeOut);
        }
        if (copies != null) {
            if (deviceConverts) {
                backend.roundToBf16(pairsOut, computeOut, rows);
            }
            copies.afterCompute(); // the reply's DMAs start when the kernels are done, and end before reply returns
            return;
        }
        if (deviceConverts) {
            backend.copyRowsToBf16(wireOut.activationMemory(), computeOut, rows);
        } else if (computeOut != outRows) {
            backend.copyRows(outRows, computeOut, rows);
        }
        backend.awaitWrites();                 // a device writes the reply rows asynchronously
    }

    public ExpertMetrics metrics() {
        return metrics;
    }

    public int id() {
        return id;
    }

    @Override
    public void close() {
        if (transport != null) {
            transport.close();
        }
        experts.close();
    }
}
