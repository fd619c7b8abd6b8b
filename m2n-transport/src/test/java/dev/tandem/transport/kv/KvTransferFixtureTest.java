package dev.tandem.transport.kv;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.KvHandoff;
import dev.tandem.core.engine.PrefillKvTap;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.kv.BlockTable;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Splitwise's KV transfer end to end over Aeron IPC: prompt machine A prefills p0 in chunks of
 * {@link #CHUNK} tokens and sends each layer's new K/V rows as soon as that layer's attention has
 * stored them; token machine B, a second model instance with its own cache, writes them into
 * blocks it reserved beforehand (other block numbers than A's), then decodes greedily from the
 * token that A sampled: the 12 tokens must be transformers' {@code p0.greedy}.
 */
class KvTransferFixtureTest
{
    private static final Path FIXTURES = Path.of("../core/src/test/resources/fixtures"); // tests run in the module dir
    private static final String CHANNEL = "aeron:ipc";
    private static final int STREAM = 3101;
    private static final int CHUNK = 3;
    private static final int GREEDY_TOKENS = 12;
    private static final int BLOCK_SIZE = 4;
    private static final int OCCUPIED_ON_B = 20; // positions B holds for another request
    private static final long TRANSFER = 7;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(5);

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldDecodeTransformersGreedyTokensOnTheTokenMachineFromStreamedKv(final String model)
    {
        final Path dir = FIXTURES.resolve(model);
        final String aeronDir;
        try (SafetensorsFile expected = SafetensorsFile.open(dir.resolve("expected.safetensors"));
            CpuBackend backendA = new CpuBackend(1);
            CpuBackend backendB = new CpuBackend(1);
            CausalLm a = Models.load(dir, backendA, CHUNK);
            CausalLm b = Models.load(dir, backendB, 16);
            AeronNode node = AeronNode.launch(TransportConfig.defaults()))
        {
            aeronDir = node.aeronDirectoryName();
            final int[] prompt = ints(expected, "p0.input_ids");
            final int layers = a.config().numLayers();
            final int kvDim = a.config().kvDim();

            final TokenMachine tokenMachine = new TokenMachine(b, backendB, prompt);
            final PagedKvCache cacheA = a.newKvCache(64, BLOCK_SIZE);
            final Generator generatorA = new Generator(a, cacheA);
            final Dtype dtype = Dtype.ofBytes(cacheA.storage().elementBytes());
            try (KvTransferReceiver receiver = new KvTransferReceiver(node.aeron(), CHANNEL, STREAM, layers, kvDim,
                dtype, CHUNK, tokenMachine);
                KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(),
                    List.of(CHANNEL), STREAM, kvDim, dtype, CHUNK).awaitConnected(CONNECT_TIMEOUT_NS))
            {
                final long[] rowsSent = {0};
                final PrefillKvTap tap = new PrefillKvTap(backendA,
                    (id, layer, first, count, rows) ->
                    {
                        sender.sendLayer(0, id, layer, layers, first, count, rows);
                        rowsSent[0] += count;
                    });
                a.observeLayers(tap);
                final PromptMachineListener onA = new PromptMachineListener(tap, sender, layers, prompt.length);
                generatorA.submit(new Request(prompt, 1, SamplingParams.GREEDY, false, false), onA);

                final List<Long> rowsOnBAfterEachStepOfA = new ArrayList<>();
                while (generatorA.hasWork())
                {
                    generatorA.step();
                    final long sent = rowsSent[0];
                    RecordingSink.pollUntil(receiver, () -> tokenMachine.rowsWritten == sent);
                    rowsOnBAfterEachStepOfA.add(tokenMachine.rowsWritten);
                }
                RecordingSink.pollUntil(receiver, () -> tokenMachine.blocks != null || !tokenMachine.failures.isEmpty());
                for (int layer = 0; layer < layers; layer++) // A freed its blocks, but nobody overwrote them
                {
                    assertArrayEquals(rows(backendA, cacheA, onA.blocksOnA, layer, prompt.length, kvDim),
                        rows(backendB, tokenMachine.handoffCache(), tokenMachine.blocks.blocks(), layer, prompt.length,
                            kvDim), "layer " + layer + " K/V on B equal A's bit for bit");
                }
                tokenMachine.decode();

                assertEquals(List.of(), tokenMachine.failures);
                assertEquals(chunkSteps(layers, prompt.length), rowsOnBAfterEachStepOfA,
                    "every layer of each chunk reached B before A's next chunk");
                assertNotEquals(onA.blocksOnA[0], tokenMachine.blocks.blocks()[0], "B's blocks differ from A's");
                assertArrayEquals(ints(expected, "p0.greedy"), tokenMachine.result.outputIds(), model + " greedy on B");
                assertEquals(0, receiver.rejected());
                assertEquals(0, receiver.transfersInProgress());
            }
        }
        assertFalse(Files.exists(Path.of(aeronDir)), "the embedded driver's directory is deleted");
    }

    /** Rows B holds after each of A's steps: every layer of the chunks computed so far. */
    private static List<Long> chunkSteps(final int layers, final int promptLength)
    {
        final List<Long> rows = new ArrayList<>();
        for (int done = CHUNK; done < promptLength + CHUNK; done += CHUNK)
        {
            rows.add((long)layers * Math.min(done, promptLength));
        }
        return rows;
    }

    /** Keys then values of positions [0, positions) of {@code layer}, by the sequence's blocks. */
    private static float[] rows(
        final CpuBackend backend, final PagedKvCache cache, final int[] blocks, final int layer, final int positions,
        final int kvDim)
    {
        final int[] slots = new int[positions];
        for (int p = 0; p < positions; p++)
        {
            slots[p] = blocks[p / cache.blockSize()] * cache.blockSize() + p % cache.blockSize();
        }
        final float[] keysThenValues = new float[2 * positions * kvDim];
        final float[] values = new float[positions * kvDim];
        backend.readKv(cache.storage(), layer, slots, positions, keysThenValues, values);
        System.arraycopy(values, 0, keysThenValues, positions * kvDim, values.length);
        return keysThenValues;
    }

    private static int[] ints(final SafetensorsFile file, final String name)
    {
        final long[] values = file.tensor(name).toLongArray();
        final int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++)
        {
            out[i] = Math.toIntExact(values[i]);
        }
        return out;
    }

    /** Machine A: tracks the request's rows from admission, ends the transfer with the token it sampled. */
    private static final class PromptMachineListener implements GenerationListener
    {
        private final PrefillKvTap tap;
        private final KvTransferSender sender;
        private final int layers;
        private final int promptLength;
        private int[] tracked;
        int[] blocksOnA;

        PromptMachineListener(final PrefillKvTap tap, final KvTransferSender sender, final int layers,
            final int promptLength)
        {
            this.tap = tap;
            this.sender = sender;
            this.layers = layers;
            this.promptLength = promptLength;
        }

        @Override
        public void onAdmitted(final int[] blockTable)
        {
            tracked = blockTable;
            blocksOnA = blockTable.clone();
            tap.track(blockTable, TRANSFER);
        }

        @Override
        public void onToken(final int firstToken)
        {
            sender.sendComplete(0, TRANSFER, layers, promptLength, firstToken);
        }

        @Override
        public void onDone(final Result result)
        {
            tap.untrack(tracked);
        }
    }

    /** Machine B: reserves blocks up front, writes arriving rows, resumes the request when complete. */
    private static final class TokenMachine implements KvSink
    {
        private final PagedKvCache cache;
        private final KvHandoff handoff;
        private final Generator generator;
        private final int[] prompt;
        final List<String> failures = new ArrayList<>();
        BlockTable blocks;
        long rowsWritten;
        Result result;

        TokenMachine(final CausalLm model, final CpuBackend backend, final int[] prompt)
        {
            this.cache = model.newKvCache(128, BLOCK_SIZE);
            assertTrue(cache.reserve(new BlockTable(), OCCUPIED_ON_B));
            this.handoff = new KvHandoff(backend, cache);
            this.generator = new Generator(model, cache);
            this.prompt = prompt;
            assertTrue(handoff.reserve(TRANSFER, prompt.length + GREEDY_TOKENS));
        }

        @Override
        public void layerArrived(
            final long transferId, final int layer, final int firstPosition, final int count, final MemorySegment rows,
            final long offset)
        {
            handoff.write(transferId, layer, firstPosition, count, rows, offset);
            rowsWritten += count;
        }

        @Override
        public void transferComplete(final long transferId, final int firstToken)
        {
            blocks = handoff.take(transferId);
            generator.resume(new Request(prompt, GREEDY_TOKENS, SamplingParams.GREEDY, false, false), blocks,
                firstToken, r -> result = r);
        }

        @Override
        public void transferFailed(final long transferId, final String reason)
        {
            handoff.release(transferId);
            failures.add(reason);
        }

        PagedKvCache handoffCache()
        {
            return cache;
        }

        void decode()
        {
            while (generator.hasWork())
            {
                generator.step();
            }
        }
    }
}
