package dev.tandem.core.tokenizer;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One message of a conversation: {@code role} is "system", "user", "assistant" or "tool";
 * {@code content} may be null for an assistant message that only calls tools ({@code toolCalls}:
 * OpenAI's {@code tool_calls} as plain maps and lists, or null).
 */
public record ChatMessage(String role, String content, List<Map<String, Object>> toolCalls) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        if (content == null && toolCalls == null) {
            throw new IllegalArgumentException("a " + role + " message needs content or tool_calls");
        }
    }

    public ChatMessage(String role, String content) {
        this(role, content, null);
    }
}
