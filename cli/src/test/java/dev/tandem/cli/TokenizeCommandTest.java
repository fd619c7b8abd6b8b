package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.tandem.cli.CliFixtures.tandem;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code tandem tokenize} in-process against the Hugging Face reference lines of core's
 * tokenizer fixtures: texts in, reference ids out, and back.
 */
class TokenizeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NL = System.lineSeparator();

    @TempDir
    Path temp;

    /** core/src/test/resources/tokenizers/{name}; surefire runs in the module's directory. */
    private static Path tokenizer(String name) {
        return Path.of("").toAbsolutePath().resolveSibling("core").resolve("src/test/resources/tokenizers").resolve(name);
    }

    private static List<JsonNode> reference(String name) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(tokenizer(name).resolve("expected.jsonl"))) {
            lines.add(JSON.readTree(line));
        }
        return lines;
    }

    @Test
    void shouldEncodeEveryReferenceTextToItsIds() throws IOException {
        for (String name : List.of("spm-32k", "cl100k")) {
            StringBuilder in = new StringBuilder();
            StringBuilder expected = new StringBuilder();
            for (JsonNode line : reference(name)) {
                in.append(JSON.writeValueAsString(line.get("text"))).append('\n');
                expected.append(line.get("ids").toString()).append(NL);
            }
            CliFixtures.Run run = tandem("tokenize", "--tokenizer", tokenizer(name).toString(), "--input", write(in));
            assertEquals(0, run.exitCode(), run.err());
            assertEquals(expected.toString(), run.out(), name);
        }
    }

    @Test
    void shouldDecodeEveryReferenceIdArrayToItsText() throws IOException {
        StringBuilder in = new StringBuilder();
        List<String> expected = new ArrayList<>();
        for (JsonNode line : reference("cl100k")) {
            in.append(line.get("ids").toString()).append('\n');
            expected.add(line.get("decoded").asText());
        }
        CliFixtures.Run run = tandem("tokenize", "--decode", "--tokenizer", tokenizer("cl100k").toString(), "--input", write(in));
        assertEquals(0, run.exitCode(), run.err());
        List<String> decoded = new ArrayList<>();
        for (String line : run.out().split(NL)) {
            decoded.add(JSON.readTree(line).asText());
        }
        assertEquals(expected, decoded);
        assertEquals(true, run.out().chars().allMatch(c -> c < 128), "non-ASCII is escaped");
    }

    @Test
    void shouldReadStdinAndAddBosWhenAsked() {
        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream("\"Hello, world!\"\n".getBytes(StandardCharsets.UTF_8)));
            CliFixtures.Run run = tandem("tokenize", "--add-special-tokens", "--tokenizer", tokenizer("spm-32k").toString());
            assertEquals(0, run.exitCode(), run.err());
            assertEquals("[1,22557,28725,1526,28808]" + NL, run.out());
        } finally {
            System.setIn(stdin);
        }
    }

    @Test
    void shouldReportBadLinesByNumberAndKeepGoing() throws IOException {
        String in = "\"a\"\n[1, 2]\n\"b\"\nnot json\n";
        CliFixtures.Run run = tandem("tokenize", "--tokenizer", tokenizer("cl100k").toString(), "--input", write(new StringBuilder(in)));
        assertEquals(1, run.exitCode());
        assertEquals("[64]" + NL + "[65]" + NL, run.out());
        String[] errors = run.err().split(NL);
        assertEquals(2, errors.length, run.err());
        assertEquals("tandem: error: line 2: expected a JSON string, got [1, 2]", errors[0]);
        assertEquals(true, errors[1].startsWith("tandem: error: line 4: not valid JSON"), errors[1]);
    }

    @Test
    void shouldReportIdsOutsideTheVocabulary() throws IOException {
        String in = "[22557, 32000]\n[22557]\n";
        CliFixtures.Run run = tandem("tokenize", "--decode", "--tokenizer", tokenizer("spm-32k").toString(),
                "--input", write(new StringBuilder(in)));
        assertEquals(1, run.exitCode());
        assertEquals("\"Hello\"" + NL, run.out());
        assertEquals("tandem: error: line 1: element 1 is 32000, not a token id in [0, 32000)" + NL, run.err());
    }

    @Test
    void shouldReportAMissingTokenizerDirectory() {
        CliFixtures.Run run = tandem("tokenize", "--tokenizer", temp.toString());
        assertEquals(1, run.exitCode());
        assertEquals("tandem: error: " + temp.resolve("tokenizer.json") + ": not found (a tokenizer directory holds tokenizer.json)" + NL,
                run.err());
    }

    private String write(StringBuilder content) throws IOException {
        Path file = Files.createTempFile(temp, "input", ".jsonl");
        Files.writeString(file, content);
        return file.toString();
    }
}
