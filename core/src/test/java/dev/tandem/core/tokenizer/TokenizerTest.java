package dev.tandem.core.tokenizer;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

import static dev.tandem.core.tokenizer.TokenizerReferenceTest.tokenizer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Special tokens, configuration, the streaming hold-back, hand-made tokenizer.json files and errors. */
class TokenizerTest {
    private static final int SPM_BOS = 1;
    private static final int SPM_EOS = 2;
    private static final int CL100K_ENDOFTEXT = 100257;
    /** "Hello, world!" in spm-32k, from expected.jsonl. */
    private static final int[] SPM_HELLO = {22557, 28725, 1526, 28808};

    @TempDir
    Path temp;

    @Test
    void shouldAddBosOnlyWhenSpecialTokensAreAsked() {
        Tokenizer spm = tokenizer("spm-32k");
        assertArrayEquals(SPM_HELLO, spm.encode("Hello, world!", false));
        assertArrayEquals(new int[] {SPM_BOS, 22557, 28725, 1526, 28808}, spm.encode("Hello, world!", true));
        Tokenizer cl100k = tokenizer("cl100k");
        assertArrayEquals(cl100k.encode("Hello, world!"), cl100k.encode("Hello, world!", true), "cl100k has no post_processor");
    }

    /** The bound a server refuses long prompts by: no text has fewer tokens than its length over the longest token. */
    @Test
    void shouldBoundTheTokensOfAnyTextByItsLengthOverTheLongestToken() {
        String[] texts = {"Hello, world!", " ".repeat(300), "=".repeat(500), "def f(x):\n    return x  # ok\n".repeat(20),
                "Grüße, 世界! ".repeat(30), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        for (String name : new String[] {"spm-32k", "cl100k"}) {
            Tokenizer t = tokenizer(name);
            int longest = t.longestTokenChars();
            assertTrue(longest > 1 && longest < 1000, name + ": " + longest);
            for (String text : texts) {
                int tokens = t.encode(text, false).length;
                assertTrue((long) tokens * longest >= text.length(), name + ": " + tokens + " tokens of at most "
                        + longest + " characters for " + text.length() + " characters");
            }
        }
    }

    @Test
    void shouldReadBosEosAndVocabularySize() {
        Tokenizer spm = tokenizer("spm-32k");
        assertEquals(OptionalInt.of(SPM_BOS), spm.bosTokenId());
        assertEquals(OptionalInt.of(SPM_EOS), spm.eosTokenId());
        assertEquals(32000, spm.vocabSize());
        Tokenizer cl100k = tokenizer("cl100k");
        assertEquals(OptionalInt.of(CL100K_ENDOFTEXT), cl100k.bosTokenId());
        assertEquals(OptionalInt.of(CL100K_ENDOFTEXT), cl100k.eosTokenId());
        assertEquals(100277, cl100k.vocabSize(), "largest added token <|endofprompt|> is 100276");
    }

    @Test
    void shouldMapSpecialTokenTextToItsIdAndSkipItOnRequest() {
        Tokenizer cl100k = tokenizer("cl100k");
        // 'a' and 'b' are byte tokens 64 and 65 (cl100k's single bytes start at '!' = 0)
        assertArrayEquals(new int[] {64, CL100K_ENDOFTEXT, 65}, cl100k.encode("a<|endoftext|>b"));
        assertEquals("a<|endoftext|>b", cl100k.decode(new int[] {64, CL100K_ENDOFTEXT, 65}));
        assertEquals("ab", cl100k.decode(new int[] {64, CL100K_ENDOFTEXT, 65}, true));
        Tokenizer spm = tokenizer("spm-32k");
        assertArrayEquals(new int[] {SPM_EOS}, spm.encode("</s>"));
        assertEquals("Hello, world!", spm.decode(new int[] {SPM_BOS, 22557, 28725, 1526, 28808, SPM_EOS}, true));
        // the decoder strips the leading space of the fused text only, which here starts with "<s>"
        assertEquals("<s> Hello, world!</s>", spm.decode(new int[] {SPM_BOS, 22557, 28725, 1526, 28808, SPM_EOS}));
    }

    @Test
    void shouldHoldBackByteFallbackTokensUntilTheCharacterIsWhole() {
        Tokenizer spm = tokenizer("spm-32k");
        StreamingDecoder stream = spm.streamingDecoder();
        // "▁emoji ▁🤖🚀": 🤖 is the bytes F0 9F A4 96 = <0xF0>.. = ids 243 162 167 153; 🚀 is token 30012
        assertEquals("emoji", stream.next(877) + stream.next(27813));
        List<String> pieces = new ArrayList<>();
        for (int id : new int[] {28705, 243, 162, 167, 153}) {
            pieces.add(stream.next(id));
        }
        assertEquals(List.of(" ", "", "", "", ""), pieces);
        assertEquals("\uD83E\uDD16\uD83D\uDE80", stream.next(30012));
        assertEquals("", stream.flush());
    }

    @Test
    void shouldHoldBackPartialUtf8OfByteLevelTokens() {
        Tokenizer cl100k = tokenizer("cl100k");
        int[] ids = cl100k.encode("\uD83E\uDD16");
        assertTrue(ids.length > 1, "the robot emoji is split over byte-level tokens");
        StreamingDecoder stream = cl100k.streamingDecoder();
        for (int i = 0; i < ids.length - 1; i++) {
            assertEquals("", stream.next(ids[i]));
        }
        assertEquals("\uD83E\uDD16", stream.next(ids[ids.length - 1]));
    }

    @Test
    void shouldStripOnlyTheFirstLeadingSpaceWhenStreaming() {
        Tokenizer spm = tokenizer("spm-32k");
        int[] ids = spm.encode("  two  spaces", true);
        StreamingDecoder stream = spm.streamingDecoder();
        StringBuilder text = new StringBuilder();
        for (int id : ids) {
            text.append(stream.next(id));
        }
        assertEquals("  two  spaces", text.append(stream.flush()).toString());
    }

    @Test
    void shouldStreamRandomIdsIncludingBrokenUtf8ToTheDecodedText() {
        java.util.Random random = new java.util.Random(42);
        for (String name : TokenizerReferenceTest.TOKENIZERS) {
            Tokenizer tokenizer = tokenizer(name);
            for (int trial = 0; trial < 50; trial++) {
                // half of the ids from the low range: spm-32k's byte tokens (3..258), cl100k's single bytes (0..255)
                int[] ids = random.ints(64, 0, tokenizer.vocabSize())
                        .map(id -> random.nextBoolean() ? id % 259 : id).toArray();
                StreamingDecoder stream = tokenizer.streamingDecoder();
                StringBuilder text = new StringBuilder();
                for (int id : ids) {
                    text.append(stream.next(id));
                }
                assertEquals(tokenizer.decode(ids, true), text.append(stream.flush()).toString(), name + " trial " + trial);
            }
        }
    }

    @Test
    void shouldEncodeAFourThousandTokenPromptQuickly() throws IOException {
        String paragraph = String.join(" ", Files.readAllLines(TokenizerReferenceTest.dir("spm-32k").resolve("expected.jsonl")));
        for (String name : TokenizerReferenceTest.TOKENIZERS) {
            Tokenizer tokenizer = Tokenizer.load(TokenizerReferenceTest.dir(name));
            StringBuilder prompt = new StringBuilder();
            while (tokenizer.encode(prompt.toString()).length < 4096) {
                prompt.append(paragraph, 0, Math.min(paragraph.length(), 4000)).append('\n');
            }
            tokenizer.encode("warm up the JIT " + paragraph);
            long start = System.nanoTime();
            int tokens = tokenizer.encode(prompt + " and a tail").length;
            double millis = (System.nanoTime() - start) / 1e6;
            assertTrue(tokens >= 4096);
            assertTrue(millis < 250, name + ": " + tokens + " tokens took " + millis + " ms");
        }
    }

    @Test
    void shouldReadMergesWrittenAsPairsAndHonourIgnoreMerges() throws IOException {
        String vocab = "{\"a\": 0, \"b\": 1, \"c\": 2, \"bc\": 3, \"abc\": 4}";
        Path pairs = writeTokenizer("pairs", vocab, "[[\"b\", \"c\"]]", false);
        assertArrayEquals(new int[] {0, 3}, Tokenizer.load(pairs).encode("abc"));
        Path ignoring = writeTokenizer("ignoring", vocab, "[\"b c\"]", true);
        assertArrayEquals(new int[] {4}, Tokenizer.load(ignoring).encode("abc"), "whole word in vocab wins");
        assertArrayEquals(new int[] {3, 0}, Tokenizer.load(ignoring).encode("bca"));
    }

    @Test
    void shouldNameAnUnsupportedComponentType() throws IOException {
        Path dir = writeTokenizer("wordpiece", "{\"a\": 0}", "[]", false);
        String json = Files.readString(dir.resolve("tokenizer.json")).replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"BertNormalizer\"}");
        Files.writeString(dir.resolve("tokenizer.json"), json);
        TandemException e = assertThrows(TandemException.class, () -> Tokenizer.load(dir));
        assertEquals(dir.resolve("tokenizer.json") + ": unsupported normalizer type 'BertNormalizer'", e.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), json.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\""));
        e = assertThrows(TandemException.class, () -> Tokenizer.load(dir));
        assertEquals(dir.resolve("tokenizer.json") + ": unsupported model type 'WordPiece'", e.getMessage());
    }

    @Test
    void shouldReportAMissingOrBrokenTokenizerJson() throws IOException {
        TandemException missing = assertThrows(TandemException.class, () -> Tokenizer.load(temp));
        assertTrue(missing.getMessage().startsWith(temp.resolve("tokenizer.json") + ": not found"), missing.getMessage());
        Files.writeString(temp.resolve("tokenizer.json"), "{\"model\": ");
        TandemException broken = assertThrows(TandemException.class, () -> Tokenizer.load(temp));
        assertTrue(broken.getMessage().startsWith(temp.resolve("tokenizer.json") + ": not valid JSON"), broken.getMessage());
    }

    @Test
    void shouldRejectIdsOutsideTheVocabulary() {
        TandemException e = assertThrows(TandemException.class, () -> tokenizer("spm-32k").decode(new int[] {32000}));
        assertEquals("token id 32000 is outside the vocabulary [0, 32000)", e.getMessage());
    }

    private Path writeTokenizer(String name, String vocab, String merges, boolean ignoreMerges) throws IOException {
        Path dir = Files.createDirectories(temp.resolve(name));
        Files.writeString(dir.resolve("tokenizer.json"), """
                {"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null,
                 "post_processor": null, "decoder": null,
                 "model": {"type": "BPE", "unk_token": null, "ignore_merges": %s, "vocab": %s, "merges": %s}}
                """.formatted(ignoreMerges, vocab, merges));
        return dir;
    }
}
