package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.TokenBatch;
import dev.tandem.core.kv.BlockTable;
import dev.tandem.core.kv.PagedKvCache;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Paged grouped-query attention against {@code softmax(q·kᵀ / sqrt(d)) · v} computed in double
 * over each token's positions. Four sequences share one batch: a prompt chunk, a decode token,
 * a first token and a longer chunk, their tokens interleaved; their blocks are handed out in
 * turns, so every block table is scattered over the storage.
 */
class CpuAttentionTest {
    private static final double TOLERANCE = 1e-5; // relative to Σ p·|v|
    private static final int LAYERS = 2;
    private static final int LAYER = 1; // layer 0 holds other keys, to catch a kernel that ignores the layer
    private static final int BLOCKS = 24;
    private static final int BLOCK_SIZE = 4;
    /** Per sequence: tokens already cached, then the new tokens this step brings. */
    private static final int[] CACHED = {8, 5, 0, 10};
    private static final int[] NEW = {3, 1, 1, 4};
    /** The batch's tokens as (sequence, index among its new tokens), interleaved across sequences. */
    private static final int[][] ORDER = {{0, 0}, {1, 0}, {0, 1}, {2, 0}, {3, 0}, {0, 2}, {3, 1}, {3, 2}, {3, 3}};

    @ParameterizedTest(name = "{0} kv heads × {1} query heads each, head dim {2}, window {3}, {4} threads")
    @CsvSource({
            "2, 2, 20, 0, 2",
            "2, 4, 16, 0, 3",
            "1, 4, 8, 6, 1",
            "2, 2, 20, 3, 2",
    })
    void shouldMatchScalarSoftmaxAttentionOverScatteredBlocks(int kvHeads, int group, int headDim, int window,
                                                             int threads) {
        Random random = new Random(kvHeads * 1000 + group * 100 + headDim + window);
        int sequences = CACHED.length;
        int kvCols = kvHeads * headDim;
        int qCols = kvHeads * group * headDim;
        try (CpuBackend backend = new CpuBackend(threads)) {
            PagedKvCache cache = new PagedKvCache(backend.allocateKv(LAYERS, BLOCKS, BLOCK_SIZE, kvHeads, headDim));
            BlockTable[] tables = scatteredTables(cache);
            float[][][] keys = new float[sequences][][];   // (sequence, position, kvHeads · headDim)
            float[][][] values = new float[sequences][][];
            Activations k = backend.allocate(1, kvCols);
            Activations v = backend.allocate(1, kvCols);
            for (int s = 0; s < sequences; s++) {
                int length = CACHED[s] + NEW[s];
                keys[s] = new float[length][];
                values[s] = new float[length][];
                for (int p = 0; p < length; p++) {
                    keys[s][p] = TestTensors.gaussian(random, kvCols);
                    values[s][p] = TestTensors.gaussian(random, kvCols);
                    if (p < CACHED[s]) { // cached by earlier steps; the batch's own tokens are written below
                        int[] slot = {cache.slot(tables[s], p)};
                        TestTensors.upload(k, keys[s][p], 1);
                        TestTensors.upload(v, values[s][p], 1);
                        backend.writeKv(cache.storage(), LAYER, k, v, slot, 1);
                        TestTensors.upload(k, TestTensors.gaussian(random, kvCols), 1);
                        backend.writeKv(cache.storage(), 0, k, k, slot, 1);
                    }
                }
            }

            int tokens = ORDER.length;
            TokenBatch batch = new TokenBatch(tokens + 2);
            int[] sequenceOf = new int[tokens];
            float[] newKeys = new float[tokens * kvCols];
            float[] newValues = new float[tokens * kvCols];
            for (int[] entry : ORDER) {
                int s = entry[0];
                int position = CACHED[s] + entry[1];
                System.arraycopy(keys[s][position], 0, newKeys, batch.size() * kvCols, kvCols);
                System.arraycopy(values[s][position], 0, newValues, batch.size() * kvCols, kvCols);
                sequenceOf[batch.size()] = s;
                batch.add(1000 + s, position, cache.slot(tables[s], position), tables[s].blocks());
            }
            // q, k and v as views of one fused projection, the output a view of a wider buffer
            Activations qkv = backend.allocate(tokens + 2, qCols + 2 * kvCols);
            Activations q = qkv.columns(0, qCols);
            Activations kNew = qkv.columns(qCols, kvCols);
            Activations vNew = qkv.columns(qCols + kvCols, kvCols);
            float[] queries = TestTensors.gaussian(random, tokens * qCols);
            TestTensors.upload(q, queries, tokens);
            TestTensors.upload(kNew, newKeys, tokens);
            TestTensors.upload(vNew, newValues, tokens);
            backend.writeKv(cache.storage(), LAYER, kNew, vNew, batch.slots, tokens);
            Activations outBuffer = backend.allocate(tokens + 2, qCols + 3);
            Activations out = outBuffer.columns(3, qCols);

            backend.attention(out, q, cache.storage(), LAYER, batch, headDim, window);

            float[] actual = TestTensors.download(out, tokens);
            for (int i = 0; i < tokens; i++) {
                int s = sequenceOf[i];
                int position = batch.positions[i];
                for (int h = 0; h < kvHeads * group; h++) {
                    String where = "token " + i + " (sequence " + s + ", position " + position + "), head " + h;
                    checkHead(queries, i * qCols + h * headDim, keys[s], values[s], (h / group) * headDim, headDim,
                            position, window, actual, i * qCols + h * headDim, where);
                }
            }
        }
    }

    /**
     * Grows the four sequences one block at a time in turns, then frees a short-lived
     * sequence's blocks in the middle so that later blocks land in the gap.
     */
    private static BlockTable[] scatteredTables(PagedKvCache cache) {
        BlockTable[] tables = new BlockTable[CACHED.length];
        for (int s = 0; s < tables.length; s++) {
            tables[s] = new BlockTable();
        }
        BlockTable shortLived = new BlockTable();
        for (int tokens = BLOCK_SIZE; ; tokens += BLOCK_SIZE) {
            boolean grew = false;
            for (int s = 0; s < tables.length; s++) {
                int length = CACHED[s] + NEW[s];
                if (tokens - BLOCK_SIZE < length) {
                    assertTrue(cache.reserve(tables[s], Math.min(tokens, length)));
                    grew = true;
                }
            }
            if (tokens == BLOCK_SIZE) {
                assertTrue(cache.reserve(shortLived, 2 * BLOCK_SIZE));
            }
            if (tokens == 2 * BLOCK_SIZE) {
                cache.release(shortLived);
            }
            if (!grew) {
                break;
            }
        }
        boolean scattered = false;
        for (BlockTable t : tables) {
            for (int b = 1; b < t.size(); b++) {
                scattered |= t.blocks()[b] != t.blocks()[b - 1] + 1;
            }
        }
        assertTrue(scattered, "the test needs non-contiguous block tables");
        return tables;
    }

    private static void checkHead(float[] q, int qOffset, float[][] keys, float[][] values, int kvOffset, int headDim,
                                  int position, int window, float[] actual, int outOffset, String where) {
        int first = window > 0 ? Math.max(0, position - window + 1) : 0;
        double[] p = new double[position - first + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = first; j <= position; j++) {
            double dot = 0;
            for (int c = 0; c < headDim; c++) {
                dot += (double) q[qOffset + c] * keys[j][kvOffset + c];
            }
            p[j - first] = dot / Math.sqrt(headDim);
            max = Math.max(max, p[j - first]);
        }
        double sum = 0;
        for (int j = 0; j < p.length; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
        }
        for (int c = 0; c < headDim; c++) {
            double expected = 0;
            double magnitude = 0;
            for (int j = first; j <= position; j++) {
                expected += p[j - first] / sum * values[j][kvOffset + c];
                magnitude += p[j - first] / sum * Math.abs(values[j][kvOffset + c]);
            }
            double error = Math.abs(actual[outOffset + c] - expected);
            if (!(error <= TOLERANCE * magnitude)) {
                fail(where + ", element " + c + ": expected " + expected + ", got " + actual[outOffset + c]);
            }
        }
    }
}
