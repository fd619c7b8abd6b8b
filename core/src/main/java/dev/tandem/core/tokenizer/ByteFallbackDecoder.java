package dev.tandem.core.tokenizer;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Hugging Face's ByteFallback decoder: each run of consecutive {@code <0xNN>} tokens becomes the
 * text of its bytes if they are valid UTF-8, and otherwise one U+FFFD per byte.
 */
final class ByteFallbackDecoder implements Decoder {
    static final String REPLACEMENT = "\uFFFD";

    @Override
    public List<String> decodeChain(List<String> tokens) {
        List<String> out = new ArrayList<>(tokens.size());
        byte[] pending = new byte[16];
        int pendingCount = 0;
        for (String token : tokens) {
            int b = byteOf(token);
            if (b >= 0) {
                if (pendingCount == pending.length) {
                    pending = java.util.Arrays.copyOf(pending, pendingCount * 2);
                }
                pending[pendingCount++] = (byte) b;
                continue;
            }
            if (pendingCount > 0) {
                out.add(bytesToText(pending, pendingCount));
                pendingCount = 0;
            }
            out.add(token);
        }
        if (pendingCount > 0) {
            out.add(bytesToText(pending, pendingCount));
        }
        return out;
    }

    @Override
    public boolean holdsOpen(String token) {
        return byteOf(token) >= 0;
    }

    /** The byte of a {@code <0xNN>} token, or -1 for any other token. */
    static int byteOf(String token) {
        if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') {
            return -1;
        }
        int hi = Character.digit(token.charAt(3), 16);
        int lo = Character.digit(token.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    private static String bytesToText(byte[] bytes, int count) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, 0, count)).toString();
        } catch (CharacterCodingException e) {
            return REPLACEMENT.repeat(count);
        }
    }
}
