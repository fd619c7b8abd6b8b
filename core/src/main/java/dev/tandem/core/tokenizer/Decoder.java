package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * tokenizer.json's {@code "decoder"}: turns the tokens of some ids back into text. Like Hugging
 * Face's {@code decode_chain}, each step maps a list of token strings to a new list and the last
 * list is concatenated.
 */
interface Decoder {
    /** No decoder in tokenizer.json: Hugging Face joins the tokens with spaces. */
    Decoder NONE = tokens -> List.of(String.join(" ", tokens));

    List<String> decodeChain(List<String> tokens);

    /**
     * Whether the text of tokens decoded so far may still change when more tokens follow this
     * one, so that a streaming decoder must hold it back (ByteFallback's byte groups).
     */
    default boolean holdsOpen(String token) {
        return false;
    }

    static Decoder fromJson(JsonNode node, String field, String file) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return NONE;
        }
        String type = Components.type(node, field, file);
        return switch (type) {
            case "Sequence" -> new Sequence(Components.elements(node.path("decoders"), field + ".decoders", file).stream()
                    .map(n -> fromJson(n, field + ".decoders[]", file)).toList());
            case "Replace" -> {
                Pattern pattern = Components.pattern(node.path("pattern"), field, file);
                String content = Matcher.quoteReplacement(node.path("content").asText());
                yield tokens -> tokens.stream().map(t -> pattern.matcher(t).replaceAll(content)).toList();
            }
            case "Fuse" -> tokens -> List.of(String.join("", tokens));
            case "Strip" -> strip(Components.singleCodePoint(node, "content", field, file, ' '),
                    node.path("start").asInt(0), node.path("stop").asInt(0));
            case "ByteFallback" -> new ByteFallbackDecoder();
            case "ByteLevel" -> new ByteLevelDecoder();
            case "Metaspace" -> metaspace(node, field, file);
            case "BPEDecoder" -> {
                String suffix = node.path("suffix").asText("</w>");
                yield tokens -> {
                    List<String> out = new ArrayList<>(tokens.size());
                    for (int i = 0; i < tokens.size(); i++) {
                        out.add(tokens.get(i).replace(suffix, i == tokens.size() - 1 ? "" : " "));
                    }
                    return out;
                };
            }
            default -> throw Components.unsupported(field, type, file);
        };
    }

    record Sequence(List<Decoder> steps) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (Decoder step : steps) {
                tokens = step.decodeChain(tokens);
            }
            return tokens;
        }

        @Override
        public boolean holdsOpen(String token) {
            return steps.stream().anyMatch(step -> step.holdsOpen(token));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of each token. */
    private static Decoder strip(int content, int start, int stop) {
        return tokens -> tokens.stream().map(token -> {
            int[] cps = token.codePoints().toArray();
            int from = 0;
            while (from < Math.min(start, cps.length) && cps[from] == content) {
                from++;
            }
            int to = cps.length;
            while (cps.length - to < stop && to > from && cps[to - 1] == content) {
                to--;
            }
            return new String(cps, from, to - from);
        }).toList();
    }

    /** Replacement characters become spaces; in the first token they are dropped unless prepend_scheme is never. */
    private static Decoder metaspace(JsonNode node, String field, String file) {
        String replacement = Character.toString(Components.singleCodePoint(node, "replacement", field, file, '\u2581'));
        String scheme = node.path("prepend_scheme").isTextual() ? node.get("prepend_scheme").asText()
                : node.path("add_prefix_space").asBoolean(true) ? "always" : "never";
        if (!List.of("always", "first", "never").contains(scheme)) {
            throw new TandemException(file + ": " + field + ".prepend_scheme must be always, first or never, got '" + scheme + "'");
        }
        boolean dropInFirst = !scheme.equals("never");
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                out.add(tokens.get(i).replace(replacement, i == 0 && dropInFirst ? "" : " "));
            }
            return out;
        };
    }
}
