package dev.tandem.scheduler.http;

import java.util.List;

/** What a request asks to continue: token ids, text, or a chat. */
public sealed interface Prompt {
    record Ids(int[] ids) implements Prompt {
    }

    record Text(String text) implements Prompt {
    }

    record Chat(List<ChatMessage> messages) implements Prompt {
    }
}
