package dev.tandem.scheduler.http;

import java.util.ArrayList;
import java.util.List;

/**
 * A test tokenizer: id i is the text "t{i}," so that texts are checkable by hand. A chat is its
 * messages' contents, concatenated.
 */
final class WordCodec implements TextCodec {
    static String word(int id) {
        return "t" + id + ",";
    }

    static String text(int[] ids, int from, int to) {
        StringBuilder text = new StringBuilder();
        for (int i = from; i < to; i++) {
            text.append(word(ids[i]));
        }
        return text.toString();
    }

    /** "t{id}," of the largest id. */
    @Override
    public int longestTokenChars() {
        return word(Integer.MAX_VALUE).length();
    }

    /** No special tokens in this codec: the same ids either way. */
    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        return encodePrompt(text);
    }

    @Override
    public int[] encodePrompt(String text) {
        List<Integer> ids = new ArrayList<>();
        for (String word : text.split(",")) {
            if (!word.isEmpty()) {
                ids.add(Integer.parseInt(word.substring(1)));
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        StringBuilder all = new StringBuilder();
        messages.forEach(m -> all.append(m.content()));
        return encodePrompt(all.toString());
    }

    @Override
    public Detokenizer newDetokenizer() {
        return new Detokenizer() {
            @Override
            public String next(int id) {
                return word(id);
            }

            @Override
            public String flush() {
                return "";
            }
        };
    }
}
