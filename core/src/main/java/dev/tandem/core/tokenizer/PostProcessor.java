package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;

import java.util.ArrayList;
import java.util.List;

/**
 * tokenizer.json's {@code "post_processor"}, for a single sequence: adds the special tokens (for
 * example Llama's BOS) around the encoded ids when special tokens are asked for.
 */
interface PostProcessor {
    PostProcessor NONE = ids -> ids;

    int[] addSpecialTokens(int[] ids);

    static PostProcessor fromJson(JsonNode node, String field, String file) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return NONE;
        }
        String type = Components.type(node, field, file);
        return switch (type) {
            case "TemplateProcessing" -> template(node, field, file);
            case "ByteLevel" -> NONE; // only trims offsets, which ids do not carry
            case "BertProcessing", "RobertaProcessing" -> {
                int cls = node.path("cls").path(1).asInt();
                int sep = node.path("sep").path(1).asInt();
                yield ids -> {
                    int[] out = new int[ids.length + 2];
                    out[0] = cls;
                    System.arraycopy(ids, 0, out, 1, ids.length);
                    out[out.length - 1] = sep;
                    return out;
                };
            }
            case "Sequence" -> {
                List<PostProcessor> steps = Components.elements(node.path("processors"), field + ".processors", file).stream()
                        .map(n -> fromJson(n, field + ".processors[]", file)).toList();
                yield ids -> {
                    for (PostProcessor step : steps) {
                        ids = step.addSpecialTokens(ids);
                    }
                    return ids;
                };
            }
            default -> throw Components.unsupported(field, type, file);
        };
    }

    /** The {@code single} template: a list of {@code SpecialToken} and {@code Sequence} items. */
    private static PostProcessor template(JsonNode node, String field, String file) {
        List<int[]> before = new ArrayList<>();
        List<int[]> after = new ArrayList<>();
        boolean sequenceSeen = false;
        for (JsonNode item : Components.elements(node.path("single"), field + ".single", file)) {
            if (item.has("Sequence")) {
                sequenceSeen = true;
            } else if (item.has("SpecialToken")) {
                String name = item.get("SpecialToken").path("id").asText();
                JsonNode special = node.path("special_tokens").path(name);
                if (!special.path("ids").isArray()) {
                    throw new TandemException(file + ": " + field + ".special_tokens has no ids for '" + name + "'");
                }
                int[] ids = new int[special.get("ids").size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = special.get("ids").get(i).asInt();
                }
                (sequenceSeen ? after : before).add(ids);
            } else {
                throw new TandemException(file + ": " + field + ".single items must be SpecialToken or Sequence, got " + item);
            }
        }
        int[] prefix = concat(before);
        int[] suffix = concat(after);
        return ids -> {
            int[] out = new int[prefix.length + ids.length + suffix.length];
            System.arraycopy(prefix, 0, out, 0, prefix.length);
            System.arraycopy(ids, 0, out, prefix.length, ids.length);
            System.arraycopy(suffix, 0, out, prefix.length + ids.length, suffix.length);
            return out;
        };
    }

    private static int[] concat(List<int[]> parts) {
        IntList all = new IntList(4);
        parts.forEach(all::addAll);
        return all.toArray();
    }
}
