package dev.tandem.core.tokenizer;

import dev.tandem.core.TandemException;

import java.util.List;
import java.util.Optional;

/**
 * ChatML: {@code <|im_start|>role\ncontent<|im_end|>}, generation prompt
 * {@code <|im_start|>assistant\n}.
 *
 * <p>Two layouts. The common one ends every message with a newline. DBRX's (and MPT's) puts the
 * newline between messages only ({@code newlineBetween}), and adds a default system message, the
 * template's own {@code system_message} literal, when the conversation has none; the system text is
 * trimmed, as its {@code | trim} does.
 */
record ChatMlChatTemplate(String bosToken, Optional<String> defaultSystem, boolean newlineBetween) implements ChatTemplate {
    private static final String START = "<|im_start|>";
    private static final String END = "<|im_end|>";

    @Override
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return newlineBetween ? renderNewlineBetween(messages, addGenerationPrompt) : renderNewlineAfter(messages, addGenerationPrompt);
    }

    private String renderNewlineAfter(List<ChatMessage> messages, boolean addGenerationPrompt) {
        StringBuilder out = new StringBuilder(bosToken);
        for (ChatMessage message : messages) {
            out.append(START).append(message.role()).append('\n').append(message.content()).append(END).append('\n');
        }
        if (addGenerationPrompt) {
            out.append(START).append("assistant\n");
        }
        return out.toString();
    }

    private String renderNewlineBetween(List<ChatMessage> messages, boolean addGenerationPrompt) {
        if (messages.isEmpty()) {
            throw new TandemException("chat template: the conversation has no messages");
        }
        String firstRole = messages.getFirst().role();
        String system = null;
        List<ChatMessage> turns = messages;
        if (firstRole.equals("system")) {
            system = messages.getFirst().content();
            turns = messages.subList(1, messages.size());
        } else if (!firstRole.contains("system")) {
            system = defaultSystem.orElse(null);
        }
        StringBuilder out = new StringBuilder(bosToken);
        for (int i = 0; i < turns.size(); i++) {
            if (i == 0 && system != null) {
                out.append(START).append("system\n").append(system.strip()).append(END).append('\n');
            }
            ChatMessage message = turns.get(i);
            out.append(i == 0 ? "" : "\n").append(START).append(message.role()).append('\n').append(message.content()).append(END);
        }
        if (addGenerationPrompt && !turns.isEmpty()) {
            out.append('\n').append(START).append("assistant\n");
        }
        return out.toString();
    }
}
