package dev.tandem.core.engine;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.kv.BlockTable;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.FixtureSupport;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Splitwise's hand-off inside one JVM, without a network: machine A prefills p0 in chunks of
 * {@link #CHUNK} tokens and, layer by layer, its {@link PrefillKvTap} hands the new rows to
 * machine B's {@link KvHandoff}, which stores them in other blocks of B's own cache; B then
 * decodes from the token that A sampled and must produce transformers' greedy tokens.
 */
class KvHandoffTest {
    private static final int CHUNK = 3;
    private static final int GREEDY_TOKENS = 12;
    private static final int BLOCK_SIZE = 4;
    private static final int OCCUPIED_ON_B = 20; // positions B holds for someone else, so that slots differ from A's
    private static final long TRANSFER = 42;

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldDecodeTransformersGreedyTokensFromKvPrefilledOnAnotherModel(String model) {
        try (SafetensorsFile expected = FixtureSupport.expected(model);
             CpuBackend backendA = new CpuBackend(1);
             CpuBackend backendB = new CpuBackend(1);
             CausalLm a = Models.load(FixtureSupport.dir(model), backendA, CHUNK);
             CausalLm b = Models.load(FixtureSupport.dir(model), backendB, 16)) {
            int[] prompt = FixtureSupport.ints(expected, "p0.input_ids");
            int layers = a.config().numLayers();
            PagedKvCache cacheB = b.newKvCache(128, BLOCK_SIZE);
            assertTrue(cacheB.reserve(new BlockTable(), OCCUPIED_ON_B));
            KvHandoff handoff = new KvHandoff(backendB, cacheB);
            assertTrue(handoff.reserve(TRANSFER, prompt.length + GREEDY_TOKENS));

            List<int[]> runs = new ArrayList<>(); // (layer, first position, count) per run, in order
            MemorySegment frame = Arena.ofAuto().allocate(2L * CHUNK * a.config().kvDim() * Float.BYTES + 16);
            PrefillKvTap tap = new PrefillKvTap(backendA,
                    (id, layer, first, count, rows) -> {
                        assertEquals(TRANSFER, id);
                        runs.add(new int[] {layer, first, count});
                        rows.copyTo(0, count, frame, 16); // as into a frame after its header, then out of it
                        handoff.write(id, layer, first, count, frame, 16);
                    });
            a.observeLayers(tap);
            PrefillOnA prefill = new PrefillOnA(tap);
            PagedKvCache cacheA = a.newKvCache(64, BLOCK_SIZE);
            Generator generatorA = new Generator(a, cacheA);
            generatorA.submit(new Request(prompt, 1, SamplingParams.GREEDY, false, false), prefill);
            while (generatorA.hasWork()) {
                generatorA.step();
            }
            assertNotNull(prefill.result, "A finished");
            assertEquals(0, tap.tracked());
            assertEquals(expectedRuns(layers, prompt.length), runs.stream().map(Arrays::toString).toList());

            BlockTable filled = handoff.take(TRANSFER);
            assertFalse(filled.blocks()[0] == prefill.blocksOnA[0], "B's blocks differ from A's");
            int kvDim = a.config().kvDim();
            for (int layer = 0; layer < layers; layer++) { // A freed its blocks but nobody overwrote them
                assertArrayEquals(rows(backendA, cacheA, prefill.blocksOnA, layer, prompt.length, kvDim),
                        rows(backendB, cacheB, filled.blocks(), layer, prompt.length, kvDim), "layer " + layer);
            }
            Generator generatorB = new Generator(b, cacheB);
            Result[] onB = new Result[1];
            generatorB.resume(new Request(prompt, GREEDY_TOKENS, SamplingParams.GREEDY, false, false), filled,
                    prefill.firstToken, r -> onB[0] = r);
            while (generatorB.hasWork()) {
                generatorB.step();
            }
            assertArrayEquals(FixtureSupport.ints(expected, "p0.greedy"), onB[0].outputIds(), model + " greedy on B");
            assertEquals(cacheB.totalBlocks() - cacheB.blocksFor(OCCUPIED_ON_B), cacheB.freeBlocks(), "blocks freed");
        }
    }

    @Test
    void shouldEndAResumedRequestWhoseFirstTokenUsesItsWholeBudgetWithoutAStep() {
        try (CpuBackend backend = new CpuBackend(1);
             CausalLm lm = Models.load(FixtureSupport.dir("mixtral-tiny"), backend, 4)) {
            PagedKvCache cache = lm.newKvCache(32, BLOCK_SIZE);
            KvHandoff handoff = new KvHandoff(backend, cache);
            assertTrue(handoff.reserve(TRANSFER, 6));
            Generator generator = new Generator(lm, cache);
            Result[] result = new Result[1];
            generator.resume(new Request(new int[] {1, 2, 3, 4, 5}, 1, SamplingParams.GREEDY, false, false),
                    handoff.take(TRANSFER), 9, r -> result[0] = r);

            assertEquals(0, generator.step(), "tokens computed");
            assertArrayEquals(new int[] {9}, result[0].outputIds());
            assertEquals("length", result[0].finishReason());
            assertEquals(cache.totalBlocks(), cache.freeBlocks());
        }
    }

    @Test
    void shouldFreeThePrefilledBlocksOfAResumedRequestCancelledBeforeItRan() {
        try (CpuBackend backend = new CpuBackend(1);
             CausalLm lm = Models.load(FixtureSupport.dir("mixtral-tiny"), backend, 4)) {
            PagedKvCache cache = lm.newKvCache(32, BLOCK_SIZE);
            KvHandoff handoff = new KvHandoff(backend, cache);
            assertTrue(handoff.reserve(TRANSFER, 12));
            Generator generator = new Generator(lm, cache);
            Result[] result = new Result[1];
            generator.resume(new Request(new int[] {1, 2, 3, 4, 5}, 7, SamplingParams.GREEDY, false, false),
                    handoff.take(TRANSFER), 9, r -> result[0] = r).cancel();

            assertEquals(0, generator.step(), "tokens computed");
            assertEquals("cancelled", result[0].finishReason());
            assertEquals(cache.totalBlocks(), cache.freeBlocks());
            assertEquals(0, handoff.pending());
        }
    }

    /** Keys then values of positions [0, positions) of {@code layer}, by the sequence's blocks. */
    private static float[] rows(CpuBackend backend, PagedKvCache cache, int[] blocks, int layer, int positions,
                                int kvDim) {
        int[] slots = new int[positions];
        for (int p = 0; p < positions; p++) {
            slots[p] = blocks[p / cache.blockSize()] * cache.blockSize() + p % cache.blockSize();
        }
        float[] keysThenValues = new float[2 * positions * kvDim];
        float[] values = new float[positions * kvDim];
        backend.readKv(cache.storage(), layer, slots, positions, keysThenValues, values);
        System.arraycopy(values, 0, keysThenValues, positions * kvDim, values.length);
        return keysThenValues;
    }

    /** Each chunk of {@link #CHUNK} positions, every layer of it in order, then the next chunk. */
    private static List<String> expectedRuns(int layers, int promptLength) {
        List<String> runs = new ArrayList<>();
        for (int first = 0; first < promptLength; first += CHUNK) {
            for (int layer = 0; layer < layers; layer++) {
                runs.add(Arrays.toString(new int[] {layer, first, Math.min(CHUNK, promptLength - first)}));
            }
        }
        return runs;
    }

    /** A's listener: tracks the request's rows from admission to the end, keeps the first token. */
    private static final class PrefillOnA implements GenerationListener {
        private final PrefillKvTap tap;
        private int[] tracked;
        int[] blocksOnA;
        int firstToken = -1;
        Result result;

        PrefillOnA(PrefillKvTap tap) {
            this.tap = tap;
        }

        @Override
        public void onAdmitted(int[] blockTable) {
            tracked = blockTable;
            blocksOnA = blockTable.clone();
            tap.track(blockTable, TRANSFER);
        }

        @Override
        public void onToken(int token) {
            firstToken = token;
        }

        @Override
        public void onDone(Result result) {
            tap.untrack(tracked);
            this.result = result;
        }
    }
}
