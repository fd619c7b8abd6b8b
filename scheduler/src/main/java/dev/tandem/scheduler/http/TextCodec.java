package dev.tandem.scheduler.http;

import java.util.List;

/**
 * Text to token ids and back, for the API: the engine speaks ids only. Implementations are
 * shared by all connections, so they must be thread-safe; each response gets its own
 * {@link Detokenizer}. A server without a tokenizer has no TextCodec: it takes prompts as
 * token ids and answers with empty text.
 */
public interface TextCodec {
    /** A completion prompt's ids, with the special tokens (BOS) the model expects in front. */
    int[] encodePrompt(String text);

    /** {@code text}'s ids, with the special tokens the model expects only when asked (vLLM's /tokenize). */
    int[] encode(String text, boolean addSpecialTokens);

    /**
     * The chat rendered by the model's chat template with the assistant's turn opened, as ids.
     * The template writes the special tokens itself, so none are added when encoding.
     *
     * @throws ApiError 400 when the model has no chat template, or the messages do not fit it
     */
    int[] encodeChat(List<ChatMessage> messages);

    /**
     * The most characters one token stands for; a text longer than this times the context (twice,
     * for normalizers that drop characters) cannot fit and is refused without tokenizing it.
     */
    default int longestTokenChars() {
        return Integer.MAX_VALUE / 4;
    }

    /** One token's text alone, for logprobs. */
    default String tokenText(int id) {
        return "token_id:" + id;
    }

    /** {@code ids} as text, special tokens included (an echoed prompt given as ids). */
    default String decode(int[] ids) {
        return "";
    }

    /** A decoder for one response's generated ids. */
    Detokenizer newDetokenizer();

    /**
     * A decoder for the ids generated after {@code prompt}: the first token decodes in the
     * prompt's context (a SentencePiece token's leading space is kept), as vLLM does.
     */
    default Detokenizer newDetokenizer(int[] prompt) {
        return newDetokenizer();
    }

    /**
     * Decodes one response's ids as they come. Text for an id may arrive later (a character
     * split across byte tokens), so the pieces are only meaningful concatenated.
     */
    interface Detokenizer {
        /** The text that {@code id} completes; "" while a character is incomplete. */
        String next(int id);

        /** Whatever is still held at the end. */
        String flush();
    }
}
