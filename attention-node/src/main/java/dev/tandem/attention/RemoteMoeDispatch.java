package dev.tandem.attention;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.core.model.MoeDispatch;
import dev.tandem.core.model.Routing;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.FrameFlyweight;
import dev.tandem.transport.M2nSender;
import dev.tandem.transport.RowBatch;
import dev.tandem.transport.WireRows;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The MoE on expert nodes, over M2N. {@link #submit} turns a micro-batch's routing into one row
 * per (token, chosen expert), grouped by the expert node that will run it, gathers the tokens'
 * normed activations straight into the send buffer, and sends; {@link #await} takes the weighted
 * expert outputs back into the same rows and sums each token's rows into its output row. With
 * bf16 on the wire the rows are rounded into a bf16 batch on the way out and widened on the way
 * back; the float32 rows stay what the backend computes on. On a device the rows never touch
 * host memory of ours: the batches live {@link RowBatch#onDevice on the device} (bf16 rounded and
 * widened there), and the transport DMAs them between the device and its own buffers on a copy
 * stream of their own, ordered after the kernels that wrote them by an event.
 */
final class RemoteMoeDispatch implements MoeDispatch {
    private final M2nSender sender;
    private final ComputeBackend backend;
    private final ExpertPlacement placement;
    private final DisaggregationMetrics metrics;
    private final RowBatch[] batches;      // (micro-batch) rows to and from the expert nodes, float32
    private final RowBatch[] wire;         // (micro-batch) their bf16 copies on the wire, or null for float32
    private final Activations[] rows;      // (micro-batch) the batches' activations, as backend views
    private final Activations[] staged;    // (micro-batch) device rows the kernels use where the backend stages host rows, else rows
    private final boolean deviceConverts;  // a device rounds to and widens from the bf16 wire on its side of the bus
    private final DeviceCopies copies;     // the rows stay on the device, the transport moves them; null on the host
    private final Activations[] wirePairs; // (micro-batch) the bf16 wire's rows on the device, two a float slot
    private final int[][] tokenOfRow;      // (micro-batch, row)
    private final Activations[] outputOf;  // (micro-batch)
    private final int[] tokensOf;          // (micro-batch)
    private final int[] nodeOfPair;
    private final int[] rowsPerNode;
    private final int[] cursor;
    private final float[] ones;
    private long step = -1;

    RemoteMoeDispatch(M2nSender sender, ComputeBackend backend, ExpertPlacement placement, int experts,
                      int maxMicroBatches, int maxTokens, int topK, int hidden, Dtype wireDtype,
                      DisaggregationMetrics metrics) {
        this.sender = sender;
        this.backend = backend;
        this.placement = placement;
        this.metrics = metrics;
        int maxRows = maxTokens * topK;
        int nodes = sender.receiverCount();
        batches = new RowBatch[maxMicroBatches];
        wire = wireDtype == Dtype.FP32 ? null : new RowBatch[maxMicroBatches];
        rows = new Activations[maxMicroBatches];
        staged = new Activations[maxMicroBatches];
        tokenOfRow = new int[maxMicroBatches][maxRows];
        outputOf = new Activations[maxMicroBatches];
        tokensOf = new int[maxMicroBatches];
        for (int i = 0; i < maxMicroBatches; i++) {
            batches[i] = new RowBatch(nodes, maxRows, hidden, Dtype.FP32);
            if (wire != null) {
                wire[i] = new RowBatch(nodes, maxRows, hidden, wireDtype);
            }
            UnsafeBuffer activations = batches[i].activations();
            rows[i] = backend.wrapHost(MemorySegment.ofAddress(activations.addressOffset())
                    .reinterpret(activations.capacity()), maxRows, hidden);
            staged[i] = backend.stagesHostRows() ? backend.allocate(maxRows, hidden) : rows[i];
        }
        deviceConverts = wire != null && backend.stagesHostRows();
        copies = backend.stagesHostRows() && hidden % 2 == 0 ? backend.openCopies() : null;
        wirePairs = new Activations[maxMicroBatches];
        for (int i = 0; copies != null && i < maxMicroBatches; i++) {
            if (wire != null) {
                wirePairs[i] = backend.allocate(maxRows, hidden / 2);
                wire[i].onDevice(copies, copies.address(wirePairs[i]));
            } else {
                batches[i].onDevice(copies, copies.address(staged[i]));
            }
        }
        nodeOfPair = new int[maxRows];
        rowsPerNode = new int[nodes];
        cursor = new int[nodes];
        ones = new float[maxRows];
        java.util.Arrays.fill(ones, 1f);
    }

    @Override
    public void beginStep(int microBatches) {
        if (microBatches > batches.length) {
            throw new IllegalArgumentException(microBatches + " micro-batches exceed the " + batches.length + " configured");
        }
        step++;
    }

    @Override
    public void submit(int layer, int microBatch, Activations normed, Routing routing, Activations out) {
        long start = System.nanoTime();
        RowBatch batch = batches[microBatch];
        int pairs = routing.tokens() * routing.topK;
        outputOf[microBatch] = out;
        tokensOf[microBatch] = routing.tokens();
        java.util.Arrays.fill(rowsPerNode, 0);
        for (int p = 0; p < pairs; p++) {
            int node = placement.pick(routing.expert[p], rowsPerNode);
            nodeOfPair[p] = node;
            rowsPerNode[node]++;
        }
        batch.layoutContiguous(rowsPerNode);
        for (int n = 0; n < cursor.length; n++) {
            cursor[n] = batch.peerRowStart(n);
        }
        UnsafeBuffer routingBuffer = batch.routing();
        int[] tokens = tokenOfRow[microBatch];
        for (int p = 0; p < pairs; p++) {
            int row = cursor[nodeOfPair[p]]++;
            int token = p / routing.topK;
            tokens[row] = token;
            int at = RowBatch.routingOffset(row);
            routingBuffer.putInt(at + FrameFlyweight.SLOT_FIELD_OFFSET, token, ByteOrder.LITTLE_ENDIAN);
            routingBuffer.putInt(at + FrameFlyweight.EXPERT_FIELD_OFFSET, routing.expert[p], ByteOrder.LITTLE_ENDIAN);
            routingBuffer.putFloat(at + FrameFlyweight.GATE_FIELD_OFFSET, routing.weight[p], ByteOrder.LITTLE_ENDIAN);
        }
        backend.gatherRows(staged[microBatch], normed, tokens, pairs);
        if (copies != null) {
            sendFromDevice(layer, microBatch, batch, pairs, start);
            return;
        }
        if (deviceConverts) {                  // rounded on the device, half the bytes over the bus
            backend.copyRowsToBf16(wire[microBatch].activationMemory(), staged[microBatch], pairs);
        } else if (staged[microBatch] != rows[microBatch]) {
            backend.copyRows(rows[microBatch], staged[microBatch], pairs); // one DMA into the send buffer
        }
        long awaited = System.nanoTime();
        backend.awaitWrites();                 // a device writes the send buffer asynchronously
        long written = System.nanoTime();
        if (deviceConverts) {
            WireRows.carryLayout(batch, wire[microBatch]);
        } else if (wire != null) {
            WireRows.narrow(batch, wire[microBatch]);
        }
        metrics.sendParts(written - awaited, System.nanoTime() - written);
        sender.send(step, layer, microBatch, wire != null ? wire[microBatch] : batch);
        metrics.sent(layer, System.nanoTime() - start, pairs);
    }

    /** The gathered rows (rounded on the device for bf16) go from the device once the kernels have written them. */
    private void sendFromDevice(int layer, int microBatch, RowBatch batch, int pairs, long start) {
        RowBatch sent = batch;
        if (wire != null) {
            backend.roundToBf16(wirePairs[microBatch], staged[microBatch], pairs);
            WireRows.carryLayout(batch, wire[microBatch]);
            sent = wire[microBatch];
        }
        copies.afterCompute();
        sender.send(step, layer, microBatch, sent);
        metrics.sent(layer, System.nanoTime() - start, pairs);
    }

    @Override
    public void await(int layer, int microBatch) {
        long start = System.nanoTime();
        RowBatch batch = batches[microBatch];
        RowBatch received = wire != null ? wire[microBatch] : batch;
        sender.receiveResults(step, layer, microBatch, received);
        long waited = System.nanoTime() - start;
        if (wire != null && !deviceConverts) {
            long widening = System.nanoTime();
            WireRows.widen(wire[microBatch], batch);
            metrics.converted(System.nanoTime() - widening);
        }
        Activations out = outputOf[microBatch];
        backend.zero(out, tokensOf[microBatch]);
        if (copies != null) { // the results are on the device already
            if (wire != null) {
                backend.widenFromBf16(staged[microBatch], wirePairs[microBatch], received.rowCount());
            }
        } else if (deviceConverts) {
            backend.copyRowsFromBf16(staged[microBatch], received.activationMemory(), received.rowCount());
        } else if (staged[microBatch] != rows[microBatch]) {
            backend.copyRows(staged[microBatch], rows[microBatch], batch.rowCount());
        }
        backend.scatterAddScaled(out, staged[microBatch], tokenOfRow[microBatch], ones, received.rowCount());
        metrics.received(layer, waited);
    }
}
