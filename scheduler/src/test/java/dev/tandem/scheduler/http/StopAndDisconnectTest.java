package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.Result;
import dev.tandem.scheduler.engine.ColocatedEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.tandem.scheduler.http.ApiFixtures.events;
import static dev.tandem.scheduler.http.ApiFixtures.intArray;
import static dev.tandem.scheduler.http.ApiFixtures.post;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stop strings cut the text (also across tokens, also while streaming) and end the request; a
 * client that goes away mid-stream cancels its request and the engine frees its KV blocks.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StopAndDisconnectTest {
    private static final String MODEL = "mixtral-tiny";
    private static final int KV_TOKENS = 4096;
    private static final int LONG_GENERATION = 4000;
    private static final long FREE_WAIT_MS = 10_000;

    private ColocatedEngine colocated;
    private RecordingEngine engine;
    private HttpApiServer server;
    private HttpClient client;
    private ApiFixtures.Prompt prompt;

    @BeforeAll
    void start() {
        colocated = new ColocatedEngine(ApiFixtures.fixture(MODEL), MODEL, ApiFixtures.THREADS, 256, KV_TOKENS, 256);
        engine = new RecordingEngine(colocated);
        server = HttpApiServer.start(HttpApiContext.of(engine, new WordCodec()), "127.0.0.1", 0);
        client = ApiFixtures.client();
        prompt = ApiFixtures.prompts(MODEL).getFirst();
    }

    @AfterAll
    void stop() {
        client.close();
        server.close();
        engine.close();
    }

    @Test
    void shouldCutTheTextBeforeAStopStringSpanningTwoTokensAndEndWithStop() {
        int[] g = prompt.greedy();
        String stop = WordCodec.word(g[2]) + "t" + g[3];  // "t{g2},t{g3}": begins in one token, ends in the next
        int at = firstPair(g, g[2], g[3]);
        String expectedText = WordCodec.text(g, 0, at);
        int[] expectedIds = Arrays.copyOf(g, at + 2); // up to the token that completed the match

        JsonNode whole = post(client, server.port(), "/v1/completions", body(stop, false)).json();
        assertEquals(expectedText, whole.at("/choices/0/text").asText());
        assertArrayEquals(expectedIds, intArray(whole.at("/choices/0/token_ids")));
        assertEquals("stop", whole.at("/choices/0/finish_reason").asText());
        assertEquals(expectedIds.length, whole.at("/usage/completion_tokens").intValue());

        List<JsonNode> events = events(post(client, server.port(), "/v1/completions", body(stop, true)).body());
        assertEquals(expectedText, streamedText(events));
        assertArrayEquals(expectedIds, streamedIds(events));
        assertEquals("stop", events.getLast().at("/choices/0/finish_reason").asText());
    }

    @Test
    void shouldKeepTheStopStringWhenAskedTo() {
        int[] g = prompt.greedy();
        String stop = WordCodec.word(g[2]) + "t" + g[3];
        int at = firstPair(g, g[2], g[3]);
        String expectedText = WordCodec.text(g, 0, at) + stop;
        String body = body(stop, false).replace("}", ",\"include_stop_str_in_output\":true}");
        JsonNode whole = post(client, server.port(), "/v1/completions", body).json();
        assertEquals(expectedText, whole.at("/choices/0/text").asText());
        assertEquals("stop", whole.at("/choices/0/finish_reason").asText());
        List<JsonNode> events = events(post(client, server.port(), "/v1/completions",
                body(stop, true).replace("}", ",\"include_stop_str_in_output\":true}")).body());
        assertEquals(expectedText, streamedText(events));
    }

    @Test
    void shouldEndAtAStopTokenIdEvenWithIgnoreEosKeepingTheToken() {
        int[] g = prompt.greedy();
        int stopAt = firstIndexOf(g, g[4]);
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(prompt.inputIds())
                + "],\"max_tokens\":" + ApiFixtures.GREEDY_TOKENS + ",\"temperature\":0,\"ignore_eos\":true,"
                + "\"stop_token_ids\":[" + g[4] + "]";
        int[] expectedIds = Arrays.copyOf(g, stopAt + 1);
        JsonNode whole = post(client, server.port(), "/v1/completions", body + "}").json();
        assertArrayEquals(expectedIds, intArray(whole.at("/choices/0/token_ids")));
        assertEquals(WordCodec.text(g, 0, stopAt + 1), whole.at("/choices/0/text").asText());
        assertEquals("stop", whole.at("/choices/0/finish_reason").asText());
        List<JsonNode> events = events(post(client, server.port(), "/v1/completions", body + ",\"stream\":true}").body());
        assertArrayEquals(expectedIds, streamedIds(events));
        assertEquals("stop", events.getLast().at("/choices/0/finish_reason").asText());
    }

    @Test
    void shouldSampleAnewWithoutASeedAndAlikeWithTheSameSeed() {
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(prompt.inputIds())
                + "],\"max_tokens\":24,\"temperature\":1.5,\"ignore_eos\":true";
        int[] first = intArray(post(client, server.port(), "/v1/completions", body + "}").json().at("/choices/0/token_ids"));
        int[] second = intArray(post(client, server.port(), "/v1/completions", body + "}").json().at("/choices/0/token_ids"));
        assertFalse(Arrays.equals(first, second), "two unseeded samples of 24 tokens at T = 1.5 came out the same");
        int[] seededA = intArray(post(client, server.port(), "/v1/completions", body + ",\"seed\":7}").json()
                .at("/choices/0/token_ids"));
        int[] seededB = intArray(post(client, server.port(), "/v1/completions", body + ",\"seed\":7}").json()
                .at("/choices/0/token_ids"));
        assertArrayEquals(seededA, seededB, "the same seed samples the same tokens");
    }

    /** --seed: a restarted server (a second one, seeded alike) samples seedless requests as the first did. */
    @Test
    void shouldDrawTheSeedsOfSeedlessRequestsFromTheServersSeed() {
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(prompt.inputIds())
                + "],\"max_tokens\":24,\"temperature\":1.5,\"ignore_eos\":true}";
        int[][] runs = new int[2][];
        for (int run = 0; run < 2; run++) {
            try (HttpApiServer seeded = HttpApiServer.start(HttpApiContext.of(engine, new WordCodec()).withSeed(11),
                    "127.0.0.1", 0)) {
                int[] first = intArray(post(client, seeded.port(), "/v1/completions", body).json()
                        .at("/choices/0/token_ids"));
                int[] second = intArray(post(client, seeded.port(), "/v1/completions", body).json()
                        .at("/choices/0/token_ids"));
                assertFalse(Arrays.equals(first, second), "the second request drew a seed of its own");
                runs[run] = java.util.stream.IntStream.concat(Arrays.stream(first), Arrays.stream(second)).toArray();
            }
        }
        assertArrayEquals(runs[0], runs[1], "two servers with --seed 11 sampled alike");
    }

    private static int firstIndexOf(int[] values, int value) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] == value) {
                return i;
            }
        }
        throw new IllegalArgumentException(value + " not found");
    }

    @Test
    void shouldReleaseHeldBackTextWhenAStopStringDoesNotMatchAfterAll() {
        int[] g = prompt.greedy();
        String stop = WordCodec.word(g[5]) + "zzz";  // each t{g5}, is held back, then released
        String expectedText = WordCodec.text(g, 0, g.length);

        List<JsonNode> events = events(post(client, server.port(), "/v1/completions", body(stop, true)).body());
        assertEquals(expectedText, streamedText(events));
        assertArrayEquals(g, streamedIds(events));
        assertEquals("length", events.getLast().at("/choices/0/finish_reason").asText());
    }

    @Test
    void shouldCancelTheRequestAndFreeItsKvBlocksWhenTheClientLeavesMidStream() throws Exception {
        Generator generator = colocated.generator();
        engine.results.clear();
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(prompt.inputIds())
                + "],\"max_tokens\":" + LONG_GENERATION + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true}";
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout((int) FREE_WAIT_MS);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            readUntil(socket.getInputStream(), "data: ");
        }
        Result result = engine.results.poll(FREE_WAIT_MS, TimeUnit.MILLISECONDS);
        assertNotNull(result, "the engine never ended the request");
        assertEquals("cancelled", result.finishReason());
        assertTrue(result.outputIds().length < LONG_GENERATION);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(FREE_WAIT_MS);
        while (generator.freeKvBlocks() != generator.totalKvBlocks() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(generator.totalKvBlocks(), generator.freeKvBlocks());
    }

    private static void readUntil(InputStream in, String marker) throws Exception {
        StringBuilder seen = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            seen.append((char) b);
            if (seen.indexOf(marker) >= 0) {
                return;
            }
        }
        throw new AssertionError("the stream ended before " + marker + ": " + seen);
    }

    private static int firstPair(int[] ids, int first, int second) {
        for (int i = 0; i + 1 < ids.length; i++) {
            if (ids[i] == first && ids[i + 1] == second) {
                return i;
            }
        }
        throw new AssertionError("no pair in " + Arrays.toString(ids));
    }

    private static String streamedText(List<JsonNode> events) {
        StringBuilder text = new StringBuilder();
        events.forEach(e -> text.append(e.at("/choices/0/text").asText()));
        return text.toString();
    }

    private static int[] streamedIds(List<JsonNode> events) {
        List<Integer> ids = new ArrayList<>();
        events.forEach(e -> e.at("/choices/0/token_ids").forEach(id -> ids.add(id.intValue())));
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private String body(String stop, boolean stream) {
        return "{\"model\":\"" + MODEL + "\",\"prompt\":[" + ApiFixtures.csv(prompt.inputIds()) + "],\"max_tokens\":"
                + ApiFixtures.GREEDY_TOKENS + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream
                + ",\"stop\":[\"" + stop + "\"]}";
    }
}
