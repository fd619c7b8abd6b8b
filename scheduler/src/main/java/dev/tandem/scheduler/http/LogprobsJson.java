package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.engine.TokenLogprobs;

import java.nio.charset.StandardCharsets;

/**
 * A choice's {@code logprobs} in OpenAI's shapes. Completions: parallel arrays {@code tokens},
 * {@code token_logprobs}, {@code top_logprobs} (token text to log-probability) and
 * {@code text_offset}; a position without logprobs (an echoed prompt's first token) is null in
 * the last three. Chat: {@code content}, a list of {token, logprob, bytes, top_logprobs}. Token
 * text is each id decoded alone, or {@code token_id:N} without a tokenizer (vLLM's form).
 */
final class LogprobsJson {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final boolean chat;
    private final TextCodec codec;   // null: no tokenizer
    private int textOffset;          // completions: where the next token's text starts in the choice's text

    LogprobsJson(boolean chat, TextCodec codec) {
        this.chat = chat;
        this.codec = codec;
    }

    /** Tokens {@code ids[from, to)} with {@code logprobs[from, to)} (entries may be null). */
    ObjectNode of(int[] ids, TokenLogprobs[] logprobs, int from, int to) {
        return append(NODES.objectNode(), ids, logprobs, from, to);
    }

    /** The same tokens after those {@code node} holds already (an echoed prompt's). */
    ObjectNode append(ObjectNode node, int[] ids, TokenLogprobs[] logprobs, int from, int to) {
        if (chat) {
            ArrayNode content = array(node, "content");
            for (int i = from; i < to; i++) {
                TokenLogprobs lp = logprobs[i];
                ObjectNode entry = entry(content.addObject(), ids[i], lp == null ? 0f : lp.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                if (lp != null) {
                    for (int k = 0; k < lp.topIds().length; k++) {
                        entry(top.addObject(), lp.topIds()[k], lp.topLogprobs()[k]);
                    }
                }
            }
            return node;
        }
        ArrayNode tokens = array(node, "tokens");
        ArrayNode tokenLogprobs = array(node, "token_logprobs");
        ArrayNode top = array(node, "top_logprobs");
        ArrayNode offsets = array(node, "text_offset");
        for (int i = from; i < to; i++) {
            String text = tokenText(ids[i]);
            tokens.add(text);
            offsets.add(textOffset);
            textOffset += text.length();
            TokenLogprobs lp = logprobs[i];
            if (lp == null) {
                tokenLogprobs.addNull();
                top.addNull();
                continue;
            }
            tokenLogprobs.add(lp.logprob());
            ObjectNode alternatives = top.addObject();
            for (int k = 0; k < lp.topIds().length; k++) {
                alternatives.put(tokenText(lp.topIds()[k]), lp.topLogprobs()[k]);
            }
        }
        return node;
    }

    private static ArrayNode array(ObjectNode node, String field) {
        return node.has(field) ? (ArrayNode) node.get(field) : node.putArray(field);
    }

    private ObjectNode entry(ObjectNode entry, int id, float logprob) {
        String text = tokenText(id);
        entry.put("token", text).put("logprob", logprob);
        ArrayNode bytes = entry.putArray("bytes");
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
        return entry;
    }

    private String tokenText(int id) {
        return codec == null ? "token_id:" + id : codec.tokenText(id);
    }
}
