package dev.tandem.scheduler.http;

import dev.tandem.scheduler.engine.ServedModel;

/** A request's prompt as the token ids the engine takes, checked against the vocabulary and the context. */
final class PromptEncoder {
    private PromptEncoder() {
    }

    /**
     * Refuses, before tokenizing, a text prompt that cannot fit the context whatever its tokens:
     * more characters than twice the context times the longest token (a normalizer may drop some).
     */
    static void checkLength(Prompt prompt, TextCodec codec, ServedModel model) {
        long chars = switch (prompt) {
            case Prompt.Ids p -> 0;
            case Prompt.Text p -> p.text().length();
            case Prompt.Chat p -> p.messages().stream().mapToLong(m -> m.content() == null ? 0 : m.content().length())
                    .sum();
        };
        if (codec != null && chars > 2L * model.contextLength() * codec.longestTokenChars()) {
            throw ApiError.contextLengthExceeded("The prompt has " + chars + " characters: more tokens than this "
                    + "model's context of " + model.contextLength() + " tokens holds", "prompt");
        }
    }

    static int[] encode(Prompt prompt, TextCodec codec, ServedModel model) {
        int[] ids = switch (prompt) {
            case Prompt.Ids p -> p.ids();
            case Prompt.Text p -> needCodec(codec, "prompt").encodePrompt(p.text());
            case Prompt.Chat p -> needCodec(codec, "messages").encodeChat(p.messages());
        };
        String param = prompt instanceof Prompt.Chat ? "messages" : "prompt";
        if (ids.length == 0) {
            throw ApiError.badRequest("The prompt has no tokens", param);
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= model.vocabSize()) {
                throw ApiError.badRequest("Token id " + ids[i] + " at index " + i + " is outside the vocabulary [0, "
                        + model.vocabSize() + ")", param);
            }
        }
        if (ids.length > model.contextLength() - 1) {
            throw ApiError.contextLengthExceeded("The prompt has " + ids.length + " tokens; this model's context of "
                    + model.contextLength() + " tokens leaves room for at most " + (model.contextLength() - 1)
                    + " prompt tokens and one generated token", "prompt");
        }
        return ids;
    }

    private static TextCodec needCodec(TextCodec codec, String param) {
        if (codec == null) {
            throw ApiError.badRequest("this model has no tokenizer; send the prompt as token ids", param);
        }
        return codec;
    }
}
