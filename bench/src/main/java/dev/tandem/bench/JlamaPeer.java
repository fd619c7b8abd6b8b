package dev.tandem.bench;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.mixtral.MixtralConfig;
import com.github.tjake.jlama.model.mixtral.MixtralModel;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.util.JsonSupport;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;

/**
 * Jlama 0.8.4 as the peer, on the same checkpoint: bf16 weights memory-mapped as they are, fp32
 * activations (the numerics Tandem uses), no tokenizer. Jlama has no batched decode of several
 * sequences, so a batch of B is B sequences with their own KV buffers, served round-robin: each
 * decode step runs B single-token forwards one after another. Prefill runs each prompt through
 * {@code batchForward}.
 *
 * <p>Stock 0.8.4's Mixtral MoE ignores the routing weights and, in batched prefill, writes every
 * token's first expert output to row 0 (upstream PR tjake/Jlama#201): its logits are wrong but
 * its work is the same, so it serves for speed only. A garbage row can yield a token id outside
 * the vocabulary; such ids are replaced by 0 and counted in {@link #invalidTokens()}.
 */
final class JlamaPeer implements GenerationEngine {
    private final AbstractModel model;
    private final KvBufferCache kvCache;
    private final AbstractTensor<?, ?> logits; // (vocab), sampling scratch
    private final int vocab;
    private long invalidTokens;

    /**
     * @param threads      Jlama's compute threads; fixed once per JVM, before anything else in Jlama runs
     * @param activations  F32, or BF16 to let Jlama quantize activations to bf16 before each matmul
     */
    JlamaPeer(Path dir, int threads, String activations) {
        PhysicalCoreExecutor.overrideThreadCount(threads);
        MixtralConfig config;
        try {
            config = JsonSupport.om.readValue(dir.resolve("config.json").toFile(), MixtralConfig.class);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + "/config.json: " + e.getMessage(), e);
        }
        DType workingQ = DType.valueOf(activations);
        // A model quantization type of F32 keeps bf16 weights as they are (Jlama never widens) and
        // stops Jlama from forcing bf16 activations on a bf16 model.
        Optional<DType> modelQ = workingQ == DType.F32 ? Optional.of(DType.F32) : Optional.empty();
        this.model = new MixtralModel(AbstractModel.InferenceType.FULL_GENERATION, config,
                SafeTensorSupport.loadWeights(dir.toFile()), null, DType.F32, workingQ, modelQ);
        this.kvCache = new KvBufferCache(model);
        this.vocab = model.getConfig().vocabularySize;
        this.logits = model.makeDenseTensor(vocab);
    }

    @Override
    public String name() {
        return "Jlama";
    }

    long invalidTokens() {
        return invalidTokens;
    }

    @Override
    public Throughput run(int[][] prompts, int decodeTokens) {
        int batch = prompts.length;
        KvBufferCache.KvBuffer[] kv = new KvBufferCache.KvBuffer[batch];
        int[] next = new int[batch];
        try {
            long start = System.nanoTime();
            long promptTokens = 0;
            for (int b = 0; b < batch; b++) {
                kv[b] = kvCache.getKvBuffer(UUID.randomUUID());
                try (AbstractTensor<?, ?> hidden = model.batchForward(prompts[b], 0, kv[b])) {
                    next[b] = sample(hidden.slice(prompts[b].length - 1));
                }
                promptTokens += prompts[b].length;
            }
            long prefilled = System.nanoTime();
            for (int step = 0; step < decodeTokens; step++) {
                for (int b = 0; b < batch; b++) {
                    try (AbstractTensor<?, ?> hidden = model.forward(next[b], prompts[b].length + step, kv[b], Optional.empty())) {
                        next[b] = sample(hidden);
                    }
                }
            }
            long decoded = System.nanoTime();
            return new Throughput(name(), batch, promptTokens, (prefilled - start) / 1e9, (long) batch * decodeTokens,
                    (decoded - prefilled) / 1e9, Double.NaN);
        } finally {
            for (KvBufferCache.KvBuffer buffer : kv) {
                if (buffer != null) {
                    buffer.close();
                }
            }
        }
    }

    /** Greedy: final norm, LM head, argmax. */
    private int sample(AbstractTensor<?, ?> hiddenRow) {
        int token = model.sample(hiddenRow, 0f, 0f, logits);
        if (token < 0 || token >= vocab) {
            invalidTokens++;
            return 0;
        }
        return token;
    }

    @Override
    public void close() {
        logits.close();
        kvCache.close();
        model.close();
    }
}
