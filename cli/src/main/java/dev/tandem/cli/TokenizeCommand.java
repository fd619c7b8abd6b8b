package dev.tandem.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tandem.core.TandemException;
import dev.tandem.core.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tandem tokenize}: text to ids or, with {@code --decode}, ids to text, one JSON value per
 * line. A bad line is reported on stderr with its line number and the rest still processed; the
 * exit code is then 1.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Encode one JSON string per input line to a JSON array of token ids per output line,",
                "or with --decode one JSON array of ids per line to a JSON string (non-ASCII written as \\u escapes)."})
final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

    @Spec
    CommandSpec spec;

    @Option(names = "--tokenizer", required = true, description = "Directory holding tokenizer.json (and tokenizer_config.json).")
    Path tokenizerDir;

    @Option(names = "--decode", description = "Read arrays of ids, write strings.")
    boolean decode;

    @Option(names = "--add-special-tokens", description = "Encoding: apply the post-processor (e.g. BOS for Mixtral).")
    boolean addSpecialTokens;

    @Option(names = "--skip-special-tokens", description = "Decoding: leave special tokens out of the text.")
    boolean skipSpecialTokens;

    @Option(names = "--input", description = "Read this file instead of stdin.")
    Path input;

    @Override
    public Integer call() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(tokenizerDir);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean allGood = true;
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(open(), StandardCharsets.UTF_8))) {
            String line;
            for (int number = 1; (line = reader.readLine()) != null; number++) {
                try {
                    out.println(decode ? decodeLine(tokenizer, line) : encodeLine(tokenizer, line));
                } catch (TandemException e) {
                    err.println("tandem: error: line " + number + ": " + e.getMessage());
                    allGood = false;
                }
            }
        }
        out.flush();
        err.flush();
        return allGood ? 0 : 1;
    }

    private InputStream open() throws IOException {
        if (input == null) {
            return System.in;
        }
        if (!Files.isRegularFile(input)) {
            throw new TandemException(input + ": not found");
        }
        return Files.newInputStream(input);
    }

    private String encodeLine(Tokenizer tokenizer, String line) {
        JsonNode node = parse(line);
        if (!node.isTextual()) {
            throw new TandemException("expected a JSON string, got " + abbreviate(line));
        }
        return Json.array(tokenizer.encode(node.asText(), addSpecialTokens));
    }

    private String decodeLine(Tokenizer tokenizer, String line) {
        JsonNode node = parse(line);
        if (!node.isArray()) {
            throw new TandemException("expected a JSON array of token ids, got " + abbreviate(line));
        }
        int[] ids = new int[node.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = node.get(i);
            if (!id.canConvertToInt() || !id.isIntegralNumber() || id.asInt() < 0 || id.asInt() >= tokenizer.vocabSize()) {
                throw new TandemException("element " + i + " is " + id + ", not a token id in [0, " + tokenizer.vocabSize() + ")");
            }
            ids[i] = id.asInt();
        }
        try {
            return JSON.writeValueAsString(tokenizer.decode(ids, skipSpecialTokens));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode parse(String line) {
        try {
            JsonNode node = JSON.readTree(line);
            if (node == null || node.isMissingNode()) {
                throw new TandemException("empty line; expected one JSON value");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new TandemException("not valid JSON: " + e.getOriginalMessage());
        }
    }

    private static String abbreviate(String line) {
        return line.length() <= 40 ? line : line.substring(0, 40) + "...";
    }
}
