package dev.tandem.scheduler.http;

import java.util.List;
import java.util.Map;

/**
 * One message of a chat request: role "system", "user", "assistant", "tool" (or any the template
 * knows); {@code content} null for an assistant message that only calls tools, whose
 * {@code toolCalls} (OpenAI's {@code tool_calls}, as plain maps) the template renders.
 */
public record ChatMessage(String role, String content, List<Map<String, Object>> toolCalls) {
    public ChatMessage(String role, String content) {
        this(role, content, null);
    }
}
