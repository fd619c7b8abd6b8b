package dev.tandem.attention;

import dev.tandem.core.checkpoint.SafetensorsFile;
import dev.tandem.core.compute.cpu.CpuBackend;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.KvHandoff;
import dev.tandem.core.engine.PrefillKvTap;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.Result;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.core.model.CausalLm;
import dev.tandem.core.model.FixtureSupport;
import dev.tandem.core.model.Models;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import dev.tandem.transport.kv.KvTransferReceiver;
import dev.tandem.transport.kv.KvTransferSender;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The token machine's hand-off when every layer's rows arrive before the request does (the KV
 * channel beat the request line), and the transfer's end after it or before it too: the rows wait
 * off the heap, copied out of the frames Aeron reuses, are written once the blocks are reserved,
 * and the request decodes transformers' greedy tokens from them.
 */
class TokenSideKvTest {
    private static final Path FIXTURE = Path.of("../core/src/test/resources/fixtures/mixtral-tiny");
    private static final String CHANNEL = "aeron:ipc";
    private static final int STREAM = 3301;
    private static final int CHUNK = 3;
    private static final int GREEDY_TOKENS = 12;
    private static final long TRANSFER = 11;
    private static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);

    @ParameterizedTest(name = "the transfer's end before the request too: {0}")
    @ValueSource(booleans = {false, true})
    void shouldDecodeFromRowsThatArrivedBeforeTheirRequest(boolean endFirst) {
        try (SafetensorsFile expected = SafetensorsFile.open(FIXTURE.resolve("expected.safetensors"));
             CpuBackend backendA = new CpuBackend(1);
             CpuBackend backendB = new CpuBackend(1);
             CausalLm a = Models.load(FIXTURE, backendA, CHUNK);
             CausalLm b = Models.load(FIXTURE, backendB, 16);
             AeronNode node = AeronNode.launch(TransportConfig.defaults())) {
            int[] prompt = FixtureSupport.ints(expected, "p0.input_ids");
            int layers = a.config().numLayers();
            int kvDim = a.config().kvDim();
            PagedKvCache cacheB = b.newKvCache(128, 4);
            Generator generatorB = new Generator(b, cacheB);
            TokenSideKv tokenSide = new TokenSideKv(generatorB, cacheB, new KvHandoff(backendB, cacheB),
                    b.config().maxPositions(), kvDim, sink -> new KvTransferReceiver(node.aeron(), CHANNEL, STREAM,
                    layers, kvDim, Dtype.FP32, CHUNK, sink));
            try (KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(),
                    List.of(CHANNEL), STREAM, kvDim, Dtype.FP32, CHUNK, true).awaitConnected(TIMEOUT_NS)) {
                PrefillKvTap tap = new PrefillKvTap(backendA,
                        (id, layer, first, count, rows) -> sender.sendLayer(0, id, layer, layers, first, count, rows));
                a.observeLayers(tap);
                Generator generatorA = new Generator(a, a.newKvCache(64, 4));
                int[] firstToken = {-1};
                generatorA.submit(new Request(prompt, 1, SamplingParams.GREEDY, false, false),
                        new dev.tandem.core.engine.GenerationListener() {
                            @Override
                            public void onAdmitted(int[] blockTable) {
                                tap.track(blockTable, TRANSFER);
                            }

                            @Override
                            public void onToken(int token) {
                                firstToken[0] = token;
                                if (endFirst) {
                                    sender.sendComplete(0, TRANSFER, layers, prompt.length, token);
                                }
                            }

                            @Override
                            public void onDone(Result result) {
                            }
                        });
                while (generatorA.hasWork()) {
                    generatorA.step();
                }
                long deadline = System.nanoTime() + TIMEOUT_NS;
                long idle = 0;
                while (idle < 1000) { // drained: every frame read, and nothing more coming
                    idle = tokenSide.poll() == 0 ? idle + 1 : 0;
                    assertTrue(System.nanoTime() - deadline < 0, "frames not drained");
                }
                assertTrue(!tokenSide.hasWork(), "no request yet: all rows are early");

                Result[] result = new Result[1];
                tokenSide.submit(TRANSFER, new Request(prompt, GREEDY_TOKENS, SamplingParams.GREEDY, false, false),
                        r -> result[0] = r);
                if (!endFirst) {
                    sender.sendComplete(0, TRANSFER, layers, prompt.length, firstToken[0]);
                }
                while (result[0] == null) {
                    tokenSide.poll();
                    if (generatorB.hasWork()) {
                        generatorB.step();
                    }
                    assertTrue(System.nanoTime() - deadline < 0, "no result");
                }
                assertNotNull(result[0].outputIds());
                assertArrayEquals(FixtureSupport.ints(expected, "p0.greedy"), result[0].outputIds(), "greedy from the early rows");
                assertEquals(cacheB.totalBlocks(), cacheB.freeBlocks(), "blocks freed at the end");
            } finally {
                tokenSide.close();
            }
        }
    }
}
