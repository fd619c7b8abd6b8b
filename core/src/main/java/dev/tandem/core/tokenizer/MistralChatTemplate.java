package dev.tandem.core.tokenizer;

import dev.tandem.core.TandemException;

import java.util.List;

/**
 * Mistral/Mixtral-Instruct: {@code <s>[INST] user [/INST]assistant</s>[INST] ...}. An optional
 * leading system message is prepended to the first user message with a blank line; after it, roles
 * must alternate user/assistant. Current Mixtral templates put a space before {@code [INST]} and
 * before each assistant message, the first v0.1 template did not: {@code spacedInst} and
 * {@code spacedAnswer} say which. The generation prompt is the {@code [/INST]} already written.
 */
record MistralChatTemplate(String bosToken, String eosToken, boolean spacedInst, boolean spacedAnswer) implements ChatTemplate {
    @Override
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        String system = null;
        List<ChatMessage> turns = messages;
        if (!messages.isEmpty() && messages.getFirst().role().equals("system")) {
            system = messages.getFirst().content();
            turns = messages.subList(1, messages.size());
        }
        StringBuilder out = new StringBuilder(bosToken);
        for (int i = 0; i < turns.size(); i++) {
            ChatMessage message = turns.get(i);
            boolean userTurn = i % 2 == 0;
            if (!message.role().equals(userTurn ? "user" : "assistant")) {
                throw new TandemException("chat template: after the optional system message, roles must alternate"
                        + " user/assistant; message " + (messages.size() - turns.size() + i) + " is '" + message.role() + "'");
            }
            if (userTurn) {
                out.append(spacedInst ? " [INST] " : "[INST] ");
                if (i == 0 && system != null) {
                    out.append(system).append("\n\n");
                }
                out.append(message.content()).append(" [/INST]");
            } else {
                out.append(spacedAnswer ? " " : "").append(message.content()).append(eosToken);
            }
        }
        return out.toString();
    }
}
