package dev.tandem.core.tokenizer;

import dev.tandem.core.TandemException;

import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Recognises the family of a Jinja chat template from its text, instead of interpreting Jinja:
 * {@code [INST]} is the Mistral/Mixtral family, {@code <|im_start|>} ChatML (DBRX among others).
 * Details that differ within a family are read from the template's text too. A template of another
 * family is kept, but rendering it throws, so tokenization without chat still works.
 */
final class ChatTemplates {
    private static final Pattern DEFAULT_SYSTEM = Pattern.compile("set system_message = '((?:[^'\\\\]|\\\\.)*)'");

    private ChatTemplates() {
    }

    static ChatTemplate recognise(String template, String bosToken, String eosToken) {
        // Templates write newlines as "\n" escapes or as real newlines; compare in the escaped form.
        String escaped = template.replace("\n", "\\n");
        if (template.contains("[INST]")) {
            return new MistralChatTemplate(bosToken, eosToken, escaped.contains("' [INST] '"),
                    escaped.contains("' ' + message['content']") || escaped.contains("' '  + message['content']"));
        }
        if (template.contains("<|im_start|>")) {
            return new ChatMlChatTemplate(template.contains("bos_token") ? bosToken : "", defaultSystem(template),
                    escaped.contains("'\\n' + '<|im_start|>'"));
        }
        return (messages, addGenerationPrompt) -> {
            throw new TandemException(TokenizerConfig.FILE + ": unsupported chat template (Tandem renders the Mistral"
                    + " [INST] and ChatML <|im_start|> families without a Jinja interpreter)");
        };
    }

    /** The string literal of {@code {% set system_message = '...' %}}, DBRX's default system prompt. */
    static Optional<String> defaultSystem(String template) {
        Matcher m = DEFAULT_SYSTEM.matcher(template);
        return m.find() ? Optional.of(unescape(m.group(1))) : Optional.empty();
    }

    /** Jinja (Python) string-literal escapes. */
    private static String unescape(String literal) {
        StringBuilder out = new StringBuilder(literal.length());
        for (int i = 0; i < literal.length(); i++) {
            char c = literal.charAt(i);
            if (c != '\\' || i + 1 == literal.length()) {
                out.append(c);
                continue;
            }
            char e = literal.charAt(++i);
            switch (e) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'u' -> {
                    int code = isHex(literal, i + 1, i + 5) ? HexFormat.fromHexDigits(literal, i + 1, i + 5) : -1;
                    if (code < 0) {
                        out.append("\\u");
                    } else {
                        out.append((char) code);
                        i += 4;
                    }
                }
                default -> out.append(e);
            }
        }
        return out.toString();
    }

    private static boolean isHex(String text, int from, int to) {
        if (to > text.length()) {
            return false;
        }
        for (int i = from; i < to; i++) {
            if (!HexFormat.isHexDigit(text.charAt(i))) {
                return false;
            }
        }
        return true;
    }
}
