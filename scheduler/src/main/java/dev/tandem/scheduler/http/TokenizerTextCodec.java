package dev.tandem.scheduler.http;

import dev.tandem.core.TandemException;
import dev.tandem.core.tokenizer.ChatTemplate;
import dev.tandem.core.tokenizer.StreamingDecoder;
import dev.tandem.core.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.List;

/** The API's text through a Hugging Face tokenizer ({@link Tokenizer}) and its chat template. */
public final class TokenizerTextCodec implements TextCodec {
    private final Tokenizer tokenizer;
    private final java.util.Optional<ChatTemplate> chatTemplate;
    private final int longestTokenChars;

    public TokenizerTextCodec(Tokenizer tokenizer) {
        this(tokenizer, tokenizer.chatTemplate());
    }

    /** With {@code chatTemplate} (a {@code --chat-template} file's) instead of tokenizer_config.json's. */
    public TokenizerTextCodec(Tokenizer tokenizer, java.util.Optional<ChatTemplate> chatTemplate) {
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.longestTokenChars = tokenizer.longestTokenChars();
    }

    public boolean hasChatTemplate() {
        return chatTemplate.isPresent();
    }

    @Override
    public int longestTokenChars() {
        return longestTokenChars;
    }

    /** The codec for {@code dir}'s tokenizer.json (and tokenizer_config.json). */
    public static TokenizerTextCodec load(Path dir) {
        return new TokenizerTextCodec(Tokenizer.load(dir));
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int[] encodePrompt(String text) {
        return tokenizer.encode(text, true);
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        return tokenizer.encode(text, addSpecialTokens);
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        ChatTemplate template = chatTemplate.orElseThrow(() -> ApiError.badRequest(
                "this model's tokenizer_config.json has no chat_template (serve --chat-template FILE gives one);"
                        + " use /v1/completions", "messages"));
        List<dev.tandem.core.tokenizer.ChatMessage> chat = messages.stream()
                .map(m -> new dev.tandem.core.tokenizer.ChatMessage(m.role(), m.content(), m.toolCalls())).toList();
        String rendered;
        try {
            rendered = template.render(chat, true);
        } catch (TandemException e) {
            throw ApiError.badRequest(e.getMessage(), "messages");
        }
        return tokenizer.encode(rendered, false);
    }

    @Override
    public String tokenText(int id) {
        return tokenizer.decode(new int[] {id}, false);
    }

    @Override
    public String decode(int[] ids) {
        return tokenizer.decode(ids, false);
    }

    @Override
    public Detokenizer newDetokenizer() {
        return detokenizer(tokenizer.streamingDecoder());
    }

    @Override
    public Detokenizer newDetokenizer(int[] prompt) {
        return detokenizer(tokenizer.streamingDecoder(prompt));
    }

    private static Detokenizer detokenizer(StreamingDecoder decoder) {
        return new Detokenizer() {
            @Override
            public String next(int id) {
                return decoder.next(id);
            }

            @Override
            public String flush() {
                return decoder.flush();
            }
        };
    }
}
