package dev.tandem.core.tokenizer;

import java.util.Objects;

/** One message of a conversation: {@code role} is "system", "user" or "assistant". */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
