package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.TandemException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What Tandem reads from transformers' tokenizer_config.json: the names of the BOS and EOS tokens
 * and the chat template. Every field may be absent, and so may the file.
 */
record TokenizerConfig(Optional<String> bosToken, Optional<String> eosToken, Optional<String> chatTemplate) {
    static final String FILE = "tokenizer_config.json";
    private static final TokenizerConfig EMPTY = new TokenizerConfig(Optional.empty(), Optional.empty(), Optional.empty());

    static TokenizerConfig read(Path dir, ObjectMapper json) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return EMPTY;
        }
        JsonNode root = readObject(file, json);
        return new TokenizerConfig(tokenName(root, "bos_token", file), tokenName(root, "eos_token", file),
                chatTemplate(root.path("chat_template"), file));
    }

    /** A special token is written as its content or, in older files, as an AddedToken object. */
    private static Optional<String> tokenName(JsonNode root, String field, Path file) {
        JsonNode node = root.path(field);
        if (node.isMissingNode() || node.isNull()) {
            return Optional.empty();
        }
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        if (node.path("content").isTextual()) {
            return Optional.of(node.get("content").asText());
        }
        throw new TandemException(file + ": " + field + " must be a string or an object with \"content\", got " + node);
    }

    /** A template string, or a list of named templates of which Tandem uses "default". */
    private static Optional<String> chatTemplate(JsonNode node, Path file) {
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        if (node.isArray()) {
            for (JsonNode named : node) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    return Optional.of(named.get("template").asText());
                }
            }
            throw new TandemException(file + ": chat_template is a list without a \"default\" template");
        }
        return Optional.empty();
    }

    /** {@code file}'s JSON object; a {@link TandemException} naming the file otherwise. */
    static JsonNode readObject(Path file, ObjectMapper json) {
        JsonNode root;
        try {
            root = json.readTree(file.toFile());
        } catch (IOException e) {
            throw new TandemException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new TandemException(file + ": must hold a JSON object");
        }
        return root;
    }
}
