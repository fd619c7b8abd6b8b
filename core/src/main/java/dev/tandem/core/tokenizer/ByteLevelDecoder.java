package dev.tandem.core.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Hugging Face's ByteLevel decoder: all tokens' alphabet characters back to bytes, then one lossy
 * UTF-8 decode. A token with a character outside the alphabet contributes its own UTF-8 bytes.
 */
final class ByteLevelDecoder implements Decoder {
    @Override
    public List<String> decodeChain(List<String> tokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (String token : tokens) {
            byte[] mapped = new byte[token.length()];
            boolean inAlphabet = true;
            for (int i = 0; i < token.length() && inAlphabet; i++) {
                int b = ByteLevelAlphabet.byteOf(token.charAt(i));
                inAlphabet = b >= 0;
                mapped[i] = (byte) b;
            }
            bytes.writeBytes(inAlphabet ? mapped : token.getBytes(StandardCharsets.UTF_8));
        }
        return List.of(bytes.toString(StandardCharsets.UTF_8));
    }
}
