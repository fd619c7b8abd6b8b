package dev.tandem.cli;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.BackendSpec;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Request;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.LoadedExperts;
import dev.tandem.core.model.LocalMoeDispatch;
import dev.tandem.core.model.Models;
import dev.tandem.core.model.MoeDispatch;
import dev.tandem.core.model.Routing;
import dev.tandem.scheduling.MicroBatchRule;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.LocalM2n;
import dev.tandem.transport.M2nContext;
import dev.tandem.transport.RowBatch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Times what {@link MicroBatchRule} decides m from, with a warm-up on this host: a decode batch
 * through the model in this process times the attention side (Ta) and the experts (Te) per layer,
 * and an Aeron IPC round trip of the same rows times the transfer (Tc).
 */
final class MicroBatchPlanner {
    private static final int SEQUENCES = 8;
    private static final int STEPS = 6;

    private MicroBatchPlanner() {
    }

    /** m for nodes on {@code devices} (resolved: cpu, cuda:N): the warm-up times the CPU, so it times CPU nodes only. */
    static int choose(Path model, int attentionNodes, int expertNodes, java.util.Set<String> devices) {
        int m = MicroBatchRule.forDevices(devices);
        if (m > 0) {
            System.err.printf("tandem: nodes on %s → m = %d (%s; --micro-batches sets it)%n", String.join(", ", devices), m,
                    m == 1 ? "one device that both roles take turns on: nothing to overlap"
                            : "several devices: the least m ≥ 2(1 + Tc/Tf) allows, untimed");
            return m;
        }
        return choose(model, attentionNodes, expertNodes);
    }

    static int choose(Path model, int attentionNodes, int expertNodes) {
        ComputeBackend backend = BackendSpec.cpu(1).open(line -> { });
        try (CausalLm lm = Models.loadAttention(model, backend, 64);
             LoadedExperts experts = Models.loadExperts(model, BackendSpec.cpu(1).open(line -> { }), e -> true)) {
            TimedDispatch timed = new TimedDispatch(new LocalMoeDispatch(backend, lm.config(), experts, 64));
            lm.useDispatch(timed);
            Generator generator = new Generator(lm, lm.newKvCache(SEQUENCES * 64, 16));
            List<Request> requests = new ArrayList<>();
            for (int s = 0; s < SEQUENCES; s++) {
                requests.add(Request.greedy(new int[] {1 + s % (lm.config().vocabSize() - 1)}, STEPS));
            }
            generator.generate(requests); // warm-up
            timed.reset();
            long start = System.nanoTime();
            generator.generate(requests);
            double layersRun = (double) lm.config().numLayers() * (STEPS + 1);
            double te = timed.nanos / layersRun;
            double ta = (System.nanoTime() - start - timed.nanos) / layersRun;
            double tc = roundTripNanos(lm.config().hiddenSize(), SEQUENCES * lm.config().expertsPerToken(),
                    expertNodes) / 2;
            int m = MicroBatchRule.forTimes(ta, te, tc);
            System.err.printf("tandem: warm-up per layer: Ta %.0f µs, Te %.0f µs, Tc %.0f µs → m = %d (m ≥ 2(1 + Tc/Tf))%n",
                    ta / 1e3, te / 1e3, tc / 1e3, m);
            return m;
        }
    }

    /** One dispatch and its results back, over Aeron IPC: 1 sender, {@code receivers} receivers. */
    private static double roundTripNanos(int hidden, int rows, int receivers) {
        M2nContext ctx = new M2nContext().hiddenSize(hidden).dtype(Dtype.FP32).maxTokensPerPeer(rows).epoch(1);
        try (LocalM2n m2n = new LocalM2n(LocalM2n.Kind.AERON_IPC, 1, receivers, ctx)) {
            RowBatch out = new RowBatch(receivers, rows, hidden, Dtype.FP32);
            RowBatch[] in = new RowBatch[receivers];
            int[] counts = new int[receivers];
            for (int r = 0; r < receivers; r++) {
                counts[r] = rows / receivers + (r < rows % receivers ? 1 : 0);
                in[r] = new RowBatch(1, rows, hidden, Dtype.FP32);
            }
            out.layoutContiguous(counts);
            long best = Long.MAX_VALUE;
            for (int step = 0; step < 20; step++) {
                long start = System.nanoTime();
                m2n.sender(0).send(step, 0, 0, out);
                for (int r = 0; r < receivers; r++) {
                    m2n.receiver(r).receive(step, 0, 0, in[r]);
                    m2n.receiver(r).reply(step, 0, 0, in[r]);
                }
                m2n.sender(0).receiveResults(step, 0, 0, out);
                best = Math.min(best, System.nanoTime() - start);
            }
            return best;
        }
    }

    /** Times the expert side of a colocated step. */
    private static final class TimedDispatch implements MoeDispatch {
        private final MoeDispatch inner;
        long nanos;

        TimedDispatch(MoeDispatch inner) {
            this.inner = inner;
        }

        void reset() {
            nanos = 0;
        }

        @Override
        public void submit(int layer, int microBatch, Activations normed, Routing routing, Activations out) {
            long start = System.nanoTime();
            inner.submit(layer, microBatch, normed, routing, out);
            nanos += System.nanoTime() - start;
        }

        @Override
        public void await(int layer, int microBatch) {
            inner.await(layer, microBatch);
        }
    }
}
