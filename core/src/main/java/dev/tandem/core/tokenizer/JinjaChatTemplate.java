package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.filter.Filter;
import dev.tandem.core.TandemException;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A checkpoint's chat template rendered as transformers renders it ({@code apply_chat_template}):
 * Jinja with {@code trim_blocks} and {@code lstrip_blocks}, the variables {@code messages},
 * {@code add_generation_prompt}, {@code bos_token} and {@code eos_token}, and its helpers
 * {@code raise_exception} and {@code strftime_now}, and {@code tojson} as Python's
 * {@code json.dumps} writes. Jinjava, with whitespace control parsed strictly and notes and
 * expressions trimmed, renders real templates as Python's Jinja2 does (tested against Jinja2's
 * renderings of them).
 */
final class JinjaChatTemplate implements ChatTemplate {
    private static final Jinjava JINJAVA = engine();

    private final String template;
    private final String bosToken;
    private final String eosToken;

    JinjaChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
    }

    @Override
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        Map<String, Object> bindings = new HashMap<>();
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", m.role());
            message.put("content", m.content());
            if (m.toolCalls() != null) {
                message.put("tool_calls", m.toolCalls());
            }
            list.add(message);
        }
        bindings.put("messages", list);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        bindings.put("bos_token", bosToken);
        bindings.put("eos_token", eosToken);
        RenderResult result = JINJAVA.renderForResult(template, bindings);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new TandemException("chat template: " + reason(error));
            }
        }
        return result.getOutput();
    }

    /** A raise_exception's own message, else Jinjava's. */
    private static String reason(TemplateError error) {
        for (Throwable t = error.getException(); t != null; t = t.getCause()) {
            if (t instanceof TemplateRaised raised) {
                return raised.getMessage();
            }
        }
        return error.getMessage();
    }

    private static Jinjava engine() {
        Jinjava jinjava = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUsePyishObjectMapper(true)
                        .build())
                .build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                JinjaChatTemplate.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                JinjaChatTemplate.class, "strftimeNow", String.class));
        jinjava.getGlobalContext().registerFilter(new PythonJson());
        return jinjava;
    }

    /** transformers' {@code raise_exception(message)}: the template refuses the conversation. */
    public static String raiseException(String message) {
        throw new TemplateRaised(message);
    }

    /** transformers' {@code strftime_now(format)}, for the directives templates use (%d %b %Y %B %m %H %M). */
    public static String strftimeNow(String format) {
        LocalDateTime now = LocalDateTime.now();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                out.append(c);
                continue;
            }
            char d = format.charAt(++i);
            String pattern = switch (d) {
                case 'd' -> "dd";
                case 'b' -> "MMM";
                case 'B' -> "MMMM";
                case 'Y' -> "yyyy";
                case 'm' -> "MM";
                case 'H' -> "HH";
                case 'M' -> "mm";
                case 'S' -> "ss";
                default -> null;
            };
            out.append(pattern == null ? "%" + d : now.format(DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH)));
        }
        return out.toString();
    }

    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message);
        }
    }

    /** {@code tojson} as Python's {@code json.dumps(x, ensure_ascii=False)} writes: ", " and ": " between items. */
    static final class PythonJson implements Filter {
        private static final ObjectMapper JSON = new ObjectMapper();

        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object value, JinjavaInterpreter interpreter, String... args) {
            StringBuilder out = new StringBuilder();
            write(JSON.valueToTree(value), out);
            return out.toString();
        }

        private static void write(com.fasterxml.jackson.databind.JsonNode node, StringBuilder out) {
            if (node.isObject()) {
                out.append('{');
                var fields = node.properties().iterator();
                while (fields.hasNext()) {
                    var field = fields.next();
                    out.append(JSON.valueToTree(field.getKey()).toString()).append(": ");
                    write(field.getValue(), out);
                    if (fields.hasNext()) {
                        out.append(", ");
                    }
                }
                out.append('}');
            } else if (node.isArray()) {
                out.append('[');
                for (int i = 0; i < node.size(); i++) {
                    if (i > 0) {
                        out.append(", ");
                    }
                    write(node.get(i), out);
                }
                out.append(']');
            } else {
                out.append(node.toString());
            }
        }
    }
}
