package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** Reading helpers shared by the tokenizer.json component factories. */
final class Components {
    private Components() {
    }

    /** The component's {@code "type"}; a missing type is an error naming the field. */
    static String type(JsonNode component, String field, String file) {
        JsonNode type = component.path("type");
        if (!type.isTextual()) {
            throw new TandemException(file + ": " + field + " has no \"type\"");
        }
        return type.asText();
    }

    static TandemException unsupported(String field, String type, String file) {
        return new TandemException(file + ": unsupported " + field + " type '" + type + "'");
    }

    static String textOrEmpty(JsonNode node, String field) {
        JsonNode value = node.path(field);
        return value.isTextual() ? value.asText() : "";
    }

    static List<JsonNode> elements(JsonNode array, String field, String file) {
        if (!array.isArray()) {
            throw new TandemException(file + ": " + field + " must be an array");
        }
        List<JsonNode> out = new ArrayList<>(array.size());
        array.forEach(out::add);
        return out;
    }

    /**
     * A {@code {"String": "..."}} or {@code {"Regex": "..."}} pattern. Regexes get Unicode
     * character classes so that {@code \s} and case folding match Oniguruma's, which Hugging
     * Face uses.
     */
    static Pattern pattern(JsonNode pattern, String field, String file) {
        if (pattern.path("String").isTextual()) {
            return Pattern.compile(Pattern.quote(pattern.get("String").asText()));
        }
        if (pattern.path("Regex").isTextual()) {
            String regex = pattern.get("Regex").asText();
            try {
                return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
            } catch (PatternSyntaxException e) {
                throw new TandemException(file + ": " + field + ".pattern.Regex is not a regex Java accepts: " + e.getDescription(), e);
            }
        }
        throw new TandemException(file + ": " + field + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }

    /** The single character of a field such as Strip's {@code content} or Metaspace's {@code replacement}. */
    static int singleCodePoint(JsonNode node, String name, String field, String file, int fallback) {
        JsonNode value = node.path(name);
        if (value.isMissingNode() || value.isNull()) {
            return fallback;
        }
        String text = value.asText();
        if (text.codePointCount(0, text.length()) != 1) {
            throw new TandemException(file + ": " + field + "." + name + " must be one character, got '" + text + "'");
        }
        return text.codePointAt(0);
    }
}
