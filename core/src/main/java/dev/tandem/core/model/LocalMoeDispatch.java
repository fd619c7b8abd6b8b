package dev.tandem.core.model;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.ComputeBackend;
import dev.tandem.core.compute.DeviceWeight;
import dev.tandem.core.config.ModelConfig;

/** The colocated MoE: every expert in this process, computed at submit. */
public final class LocalMoeDispatch implements MoeDispatch {
    private final ComputeBackend backend;
    private final ExpertExecutor executor;
    private final int[] tokenOf; // pair → token row
    private final int topK;
    private final ExpertBank bank;
    private final Activations gateUp;    // (tokens, 2·ffn) the dense path's scratch: gate | up
    private final Activations gate;      // view (tokens, ffn)
    private final Activations up;        // view (tokens, ffn)
    private final Activations expertOut; // (tokens, hidden)
    private final int denseRows;
    private final int routedRows;                 // up to here expertsFromGates reads only the routed experts
    private final int fromGatesRows;              // up to here it takes the layer (0: not this bank's layout)
    private final DeviceWeight[][] layerGateUp;   // per layer, per expert: the stacked gate|up, once looked up
    private final DeviceWeight[][] layerDown;

    public LocalMoeDispatch(ComputeBackend backend, ModelConfig c, ExpertBank bank, int maxTokens) {
        this.backend = backend;
        this.topK = c.expertsPerToken();
        this.executor = new ExpertExecutor(backend, c, bank, maxTokens * topK);
        this.bank = bank;
        this.denseRows = Math.min(maxTokens, backend.denseMoeMaxRows());
        this.gateUp = denseRows > 0 ? backend.allocate(denseRows, 2 * c.ffnHiddenSize()) : null;
        this.gate = denseRows > 0 ? gateUp.columns(0, c.ffnHiddenSize()) : null;
        this.up = denseRows > 0 ? gateUp.columns(c.ffnHiddenSize(), c.ffnHiddenSize()) : null;
        this.expertOut = denseRows > 0 ? backend.allocate(denseRows, c.hiddenSize()) : null;
        // expertsFromGates takes stacked gate|up and an untransposed down (Mixtral's layout, not DBRX's)
        ExpertFfn first = bank.expert(0, 0);
        boolean layout = first.gateUp() != null && !first.downTransposed();
        // up to experts/k rows, each pair is (nearly always) an expert of its own: fewer bytes than dense
        this.routedRows = layout ? Math.min(Math.min(denseRows, backend.routedExpertsMaxRows()), c.numExperts() / topK)
                : 0;
        this.fromGatesRows = layout ? Math.max(routedRows, Math.min(denseRows, backend.expertsFromGatesMaxRows())) : 0;
        this.layerGateUp = new DeviceWeight[c.numLayers()][];
        this.layerDown = new DeviceWeight[c.numLayers()][];
        this.tokenOf = new int[maxTokens * topK];
        for (int p = 0; p < tokenOf.length; p++) {
            tokenOf[p] = p / topK;
        }
    }

    @Override
    public void submit(int layer, int microBatch, Activations normed, Routing routing, Activations out) {
        int tokens = routing.tokens();
        backend.zero(out, tokens);
        executor.run(layer, normed, tokenOf, routing.expert, routing.weight, tokenOf, tokens * topK, out);
    }

    @Override
    public void await(int layer, int microBatch) {
    }

    @Override
    public boolean addInto(int layer, Activations normed, Routing routing, Activations x) {
        executor.run(layer, normed, tokenOf, routing.expert, routing.weight, tokenOf, routing.tokens() * topK, x);
        return true;
    }

    @Override
    public boolean acceptsDenseGates() {
        return denseRows > 0;
    }

    @Override
    public boolean denseReadsOnlyRoutedExperts(int rows) {
        return rows <= routedRows || backend.skipsUnroutedExperts(rows);
    }

    /**
     * {@code out = Σ_e E_e(normed) scaled by gates[:, e]}, expert by expert in index order, as the
     * routed path adds them, or all in a few launches where the backend runs the experts from the
     * gates (then small batches read only their routed experts); elsewhere experts no row routes
     * to may be skipped where the backend can.
     */
    @Override
    public void submitDense(int layer, int microBatch, Activations normed, Activations gates, int rows,
                            Activations out) {
        if (rows > denseRows) {
            throw new IllegalArgumentException(rows + " rows exceed the dense MoE's " + denseRows);
        }
        if (rows <= fromGatesRows) {
            if (layerGateUp[layer] == null) {
                layerGateUp[layer] = new DeviceWeight[bank.experts()];
                layerDown[layer] = new DeviceWeight[bank.experts()];
                for (int e = 0; e < bank.experts(); e++) {
                    layerGateUp[layer][e] = bank.expert(layer, e).gateUp();
                    layerDown[layer][e] = bank.expert(layer, e).down();
                }
            }
            backend.expertsFromGates(out, normed, gates, topK, layerGateUp[layer], layerDown[layer], rows);
            return;
        }
        backend.zero(out, rows);
        for (int e = 0; e < bank.experts(); e++) {
            ExpertFfn ffn = bank.expert(layer, e);
            ffn.gateUpIfRouted(backend, gateUp, normed, rows, gates, e); // [g u] = x·[gate up]ᵀ
            backend.siluMulScaled(gate, up, gates, e, rows);            // this expert's gate weight, 0 where not routed
            backend.matmulAddIfRouted(out, gate, ffn.down(), ffn.downTransposed(), rows, gates, e, expertOut);
        }
    }
}
