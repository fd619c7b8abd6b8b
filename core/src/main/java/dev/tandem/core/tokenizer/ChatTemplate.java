package dev.tandem.core.tokenizer;

import java.util.List;

/**
 * A model's chat template: the prompt text for a conversation, special tokens written out as text
 * (encode it with {@code Tokenizer.encode(prompt)}, which maps them to their ids).
 */
public interface ChatTemplate {
    /**
     * @param addGenerationPrompt end with the header that makes the model answer as the assistant
     * @throws dev.tandem.core.TandemException if the conversation breaks the template's rules, or
     *         the template is of a family Tandem does not render
     */
    String render(List<ChatMessage> messages, boolean addGenerationPrompt);
}
