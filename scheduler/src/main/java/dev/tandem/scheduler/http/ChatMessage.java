package dev.tandem.scheduler.http;

/** One message of a chat request: role "system", "user", "assistant" (or any the template knows). */
public record ChatMessage(String role, String content) {
}
