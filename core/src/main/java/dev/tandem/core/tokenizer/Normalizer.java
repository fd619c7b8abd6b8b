package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.text.Normalizer.Form;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** tokenizer.json's {@code "normalizer"}: rewrites text before it is pre-tokenized. */
interface Normalizer {
    Normalizer IDENTITY = text -> text;

    String normalize(String text);

    /** Builds the normalizer that {@code node} describes; null or missing means none. */
    static Normalizer fromJson(JsonNode node, String field, String file) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return IDENTITY;
        }
        String type = Components.type(node, field, file);
        return switch (type) {
            case "Sequence" -> {
                List<Normalizer> steps = Components.elements(node.path("normalizers"), field + ".normalizers", file).stream()
                        .map(n -> fromJson(n, field + ".normalizers[]", file)).toList();
                yield text -> {
                    for (Normalizer step : steps) {
                        text = step.normalize(text);
                    }
                    return text;
                };
            }
            case "Prepend" -> {
                String prefix = node.path("prepend").asText();
                yield text -> text.isEmpty() ? text : prefix + text;
            }
            case "Replace" -> {
                Pattern pattern = Components.pattern(node.path("pattern"), field, file);
                String content = Matcher.quoteReplacement(node.path("content").asText());
                yield text -> pattern.matcher(text).replaceAll(content);
            }
            case "Strip" -> {
                boolean left = node.path("left").asBoolean(false);
                boolean right = node.path("right").asBoolean(false);
                yield text -> left && right ? text.strip() : left ? text.stripLeading() : right ? text.stripTrailing() : text;
            }
            case "Lowercase" -> text -> text.toLowerCase(Locale.ROOT);
            case "NFC" -> unicode(Form.NFC);
            case "NFD" -> unicode(Form.NFD);
            case "NFKC" -> unicode(Form.NFKC);
            case "NFKD" -> unicode(Form.NFKD);
            default -> throw Components.unsupported(field, type, file);
        };
    }

    private static Normalizer unicode(Form form) {
        return text -> java.text.Normalizer.normalize(text, form);
    }
}
