package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/** tokenizer.json's {@code "pre_tokenizer"}: cuts normalized text into words that BPE sees one by one. */
interface PreTokenizer {
    /** GPT-2's split, used by ByteLevel with {@code use_regex}. */
    Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    PreTokenizer NONE = (text, atInputStart, out) -> out.add(text);

    /**
     * Appends the words of {@code text} to {@code out}. {@code atInputStart}: the text begins the
     * whole input (Metaspace's {@code prepend_scheme: "first"} prepends only there).
     */
    void split(String text, boolean atInputStart, List<String> out);

    static PreTokenizer fromJson(JsonNode node, String field, String file) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return NONE;
        }
        String type = Components.type(node, field, file);
        return switch (type) {
            case "Sequence" -> sequence(Components.elements(node.path("pretokenizers"), field + ".pretokenizers", file).stream()
                    .map(n -> fromJson(n, field + ".pretokenizers[]", file)).toList());
            case "Split" -> {
                Pattern pattern = Components.pattern(node.path("pattern"), field, file);
                SplitBehavior behavior = SplitBehavior.fromJson(node.path("behavior"), field, file);
                boolean invert = node.path("invert").asBoolean(false);
                yield (text, atInputStart, out) -> behavior.split(text, pattern, invert, out);
            }
            case "ByteLevel" -> byteLevel(node.path("add_prefix_space").asBoolean(true), node.path("use_regex").asBoolean(true));
            case "Metaspace" -> metaspace(node, field, file);
            case "Whitespace" -> {
                Pattern words = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);
                yield (text, atInputStart, out) -> SplitBehavior.REMOVED.split(text, words, true, out);
            }
            case "WhitespaceSplit" -> {
                Pattern space = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
                yield (text, atInputStart, out) -> SplitBehavior.REMOVED.split(text, space, false, out);
            }
            case "Digits" -> {
                Pattern digits = Pattern.compile(node.path("individual_digits").asBoolean(false) ? "\\p{Nd}" : "\\p{Nd}+");
                yield (text, atInputStart, out) -> SplitBehavior.ISOLATED.split(text, digits, false, out);
            }
            default -> throw Components.unsupported(field, type, file);
        };
    }

    private static PreTokenizer sequence(List<PreTokenizer> steps) {
        return (text, atInputStart, out) -> {
            List<String> pieces = List.of(text);
            for (PreTokenizer step : steps) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < pieces.size(); i++) {
                    step.split(pieces.get(i), atInputStart && i == 0, next);
                }
                pieces = next;
            }
            out.addAll(pieces);
        };
    }

    private static PreTokenizer byteLevel(boolean addPrefixSpace, boolean useRegex) {
        return (text, atInputStart, out) -> {
            String spaced = addPrefixSpace && !text.startsWith(" ") ? " " + text : text;
            List<String> pieces = new ArrayList<>();
            if (useRegex) {
                SplitBehavior.ISOLATED.split(spaced, GPT2_SPLIT, false, pieces);
            } else {
                pieces.add(spaced);
            }
            for (String piece : pieces) {
                out.add(ByteLevelAlphabet.encode(piece));
            }
        };
    }

    private static PreTokenizer metaspace(JsonNode node, String field, String file) {
        String replacement = Character.toString(Components.singleCodePoint(node, "replacement", field, file, '\u2581'));
        String scheme = node.path("prepend_scheme").isTextual() ? node.get("prepend_scheme").asText()
                : node.path("add_prefix_space").asBoolean(true) ? "always" : "never";
        if (!List.of("always", "first", "never").contains(scheme)) {
            throw new TandemException(file + ": " + field + ".prepend_scheme must be always, first or never, got '" + scheme + "'");
        }
        boolean split = node.path("split").asBoolean(true);
        Pattern separator = Pattern.compile(Pattern.quote(replacement));
        return (text, atInputStart, out) -> {
            String replaced = text.replace(" ", replacement);
            boolean prepend = scheme.equals("always") || (scheme.equals("first") && atInputStart);
            if (prepend && !replaced.startsWith(replacement)) {
                replaced = replacement + replaced;
            }
            if (split) {
                SplitBehavior.MERGED_WITH_NEXT.split(replaced, separator, false, out);
            } else if (!replaced.isEmpty()) {
                out.add(replaced);
            }
        };
    }
}
