package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every line of the Hugging Face {@code tokenizers} reference files ({@code expected.jsonl}: text,
 * ids without special tokens, decode of the ids): Tandem must give the same ids and the same text,
 * and streaming the ids one by one must give the same text as decoding them at once.
 */
class TokenizerReferenceTest {
    static final List<String> TOKENIZERS = List.of("spm-32k", "cl100k");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Tokenizer> LOADED = new ConcurrentHashMap<>();

    record Case(String tokenizer, int line, String text, int[] ids, String decoded) {
        @Override
        public String toString() {
            return tokenizer + ":" + line;
        }
    }

    static Path dir(String name) {
        try {
            return Path.of(TokenizerReferenceTest.class.getResource("/tokenizers/" + name + "/tokenizer.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Tokenizer tokenizer(String name) {
        return LOADED.computeIfAbsent(name, n -> Tokenizer.load(dir(n)));
    }

    static Stream<Arguments> cases() {
        return TOKENIZERS.stream().flatMap(name -> {
            List<String> lines;
            try {
                lines = Files.readAllLines(dir(name).resolve("expected.jsonl"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return IntStream.range(0, lines.size()).mapToObj(i -> Arguments.of(parse(name, i + 1, lines.get(i))));
        });
    }

    private static Case parse(String name, int line, String json) {
        try {
            JsonNode node = JSON.readTree(json);
            int[] ids = new int[node.get("ids").size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = node.get("ids").get(i).asInt();
            }
            return new Case(name, line, node.get("text").asText(), ids, node.get("decoded").asText());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void encodesToTheReferenceIds(Case c) {
        assertArrayEquals(c.ids(), tokenizer(c.tokenizer()).encode(c.text()), () -> "text: " + c.text());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void decodesToTheReferenceText(Case c) {
        assertEquals(c.decoded(), tokenizer(c.tokenizer()).decode(c.ids()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void streamsIdByIdToTheSameTextAsDecodingAtOnce(Case c) {
        Tokenizer tokenizer = tokenizer(c.tokenizer());
        StreamingDecoder stream = tokenizer.streamingDecoder();
        StringBuilder streamed = new StringBuilder();
        for (int id : c.ids()) {
            String piece = stream.next(id);
            if (!piece.isEmpty()) {
                char last = piece.charAt(piece.length() - 1);
                assertEquals(false, Character.isHighSurrogate(last), "piece ends inside a surrogate pair");
            }
            streamed.append(piece);
        }
        streamed.append(stream.flush());
        assertEquals(tokenizer.decode(c.ids(), true), streamed.toString());
        boolean hasSpecial = IntStream.of(c.ids()).anyMatch(id -> id == 1 && c.tokenizer().equals("spm-32k"));
        if (!hasSpecial) {
            assertEquals(c.decoded(), streamed.toString());
        }
    }

    /**
     * A response decoded after its prompt: split each reference line anywhere, and the pieces of
     * the tail decoded in the head's context add up to exactly what the whole line decodes to
     * beyond the head (so a SentencePiece token keeps its leading space at the cut).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void streamsTheRestOfALineInTheContextOfItsStart(Case c) {
        Tokenizer tokenizer = tokenizer(c.tokenizer());
        int[] ids = c.ids();
        for (int cut = 1; cut < ids.length; cut += Math.max(1, ids.length / 5)) {
            int[] head = java.util.Arrays.copyOfRange(ids, 0, cut);
            String headText = tokenizer.decode(head, true);
            String whole = tokenizer.decode(ids, true);
            if (!whole.startsWith(headText) || headText.endsWith("\uFFFD")) {
                continue; // the cut splits a character: its text belongs to neither side alone
            }
            StreamingDecoder stream = tokenizer.streamingDecoder(head);
            StringBuilder rest = new StringBuilder();
            for (int i = cut; i < ids.length; i++) {
                rest.append(stream.next(ids[i]));
            }
            rest.append(stream.flush());
            assertEquals(whole.substring(headText.length()), rest.toString(), "cut at " + cut + " of " + c.text());
        }
    }
}
