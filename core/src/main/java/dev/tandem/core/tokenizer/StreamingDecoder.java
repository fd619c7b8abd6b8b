package dev.tandem.core.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Decodes ids one at a time, for streaming responses; special tokens are skipped. The text
 * returned by all {@link #next} calls and then {@link #flush} equals
 * {@code decode(ids, true)}.
 *
 * <p>Each step decodes a short window: the tokens of the last emitted piece (context) plus the
 * tokens not yet emitted, and returns the part beyond the context's own text. Decoding the context
 * along keeps position-dependent steps right (SentencePiece strips the leading space of the first
 * token only: the context's first token is stripped in both texts, so the difference is exact).
 * Text is held back while it ends in U+FFFD (an incomplete UTF-8 character) or while the last token
 * can still change with the next one (a ByteFallback byte group, which decodes as a whole). A hold
 * longer than {@value #MAX_PENDING_TOKENS} tokens is invalid UTF-8 that no later token repairs, and
 * is released as U+FFFD (a window never grows past that, so each step costs O(1) decodes of a few
 * tokens). Not thread-safe: one decoder per stream.
 */
public final class StreamingDecoder {
    private static final int MAX_PENDING_TOKENS = 16;
    private static final int CONTEXT_TOKENS = 4; // prompt ids a response's decoder starts from

    private final Tokenizer tokenizer;
    private final List<String> window = new ArrayList<>();
    /** The first {@code contextTokens} tokens of the window were emitted already. */
    private int contextTokens;
    private String contextText = "";

    StreamingDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /**
     * A decoder whose first token follows {@code prefix} (the prompt's last few ids): the window
     * starts as context already emitted, so the first generated token decodes as it does after
     * the prompt (SentencePiece keeps its leading space, code keeps its indentation), as vLLM's
     * incremental detokenizer does. The prefix's own text is never returned.
     */
    StreamingDecoder(Tokenizer tokenizer, int[] prefix) {
        this.tokenizer = tokenizer;
        for (int i = Math.max(0, prefix.length - CONTEXT_TOKENS); i < prefix.length; i++) {
            String token = tokenizer.keptToken(prefix[i], true);
            if (token != null) {
                window.add(token);
            }
        }
        contextTokens = window.size();
        contextText = window.isEmpty() ? "" : tokenizer.decodeTokens(window);
    }

    /** The text that {@code id} completes; "" while it is held back. */
    public String next(int id) {
        String token = tokenizer.keptToken(id, true);
        if (token == null) {
            return "";
        }
        window.add(token);
        boolean overdue = window.size() - contextTokens >= MAX_PENDING_TOKENS;
        if (tokenizer.decoder().holdsOpen(token) && !overdue) {
            return "";
        }
        String text = tokenizer.decodeTokens(window);
        boolean ready = text.length() > contextText.length() && !text.endsWith(ByteFallbackDecoder.REPLACEMENT);
        return ready || overdue ? emit(text) : "";
    }

    /** Whatever is still held back; the stream is complete after it. */
    public String flush() {
        if (window.size() == contextTokens) {
            return "";
        }
        return emit(tokenizer.decodeTokens(window));
    }

    private String emit(String text) {
        int common = commonPrefixLength(text, contextText);
        String piece = text.substring(common);
        List<String> emitted = new ArrayList<>(window.subList(contextTokens, window.size()));
        window.clear();
        window.addAll(emitted);
        contextTokens = window.size();
        contextText = tokenizer.decodeTokens(window);
        return piece;
    }

    /** Normally the whole context text; shorter only after an overdue release split a byte group. */
    private static int commonPrefixLength(String text, String prefix) {
        if (text.startsWith(prefix)) {
            return prefix.length();
        }
        int n = 0;
        while (n < Math.min(text.length(), prefix.length()) && text.charAt(n) == prefix.charAt(n)) {
            n++;
        }
        return n;
    }
}
