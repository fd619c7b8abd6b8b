package dev.tandem.core.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Cuts text at the occurrences of added tokens, leftmost first and longest first at one position,
 * as Hugging Face's {@code AddedVocabulary} does before any normalization or BPE. An added token's
 * {@code lstrip}/{@code rstrip} swallow the whitespace beside it; {@code single_word} requires no
 * word character on either side.
 */
final class AddedTokens {
    /** One entry of tokenizer.json's {@code added_tokens}. */
    record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip,
                      boolean normalized, boolean special) {
    }

    /** A piece of the input: either plain text ({@code tokenId} -1) or one added token. */
    record Segment(String text, int tokenId, int start) {
        boolean isToken() {
            return tokenId >= 0;
        }
    }

    private final Map<Character, List<AddedToken>> byFirstChar = new HashMap<>();

    /** {@code contents}: the text to look for, per token (for normalized tokens, their normalized content). */
    AddedTokens(List<AddedToken> tokens, List<String> contents) {
        for (int i = 0; i < tokens.size(); i++) {
            String content = contents.get(i);
            AddedToken t = tokens.get(i);
            if (!content.isEmpty()) {
                byFirstChar.computeIfAbsent(content.charAt(0), c -> new ArrayList<>())
                        .add(new AddedToken(t.id(), content, t.singleWord(), t.lstrip(), t.rstrip(), t.normalized(), t.special()));
            }
        }
        byFirstChar.values().forEach(list -> list.sort(Comparator.comparingInt((AddedToken t) -> t.content().length()).reversed()));
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (byFirstChar.isEmpty()) {
            out.add(new Segment(text, -1, 0));
            return out;
        }
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            AddedToken match = matchAt(text, i);
            if (match == null) {
                i++;
                continue;
            }
            int start = i;
            int end = i + match.content().length();
            if (match.lstrip()) {
                while (start > plainStart && Character.isWhitespace(text.charAt(start - 1))) {
                    start--;
                }
            }
            if (match.rstrip()) {
                while (end < text.length() && Character.isWhitespace(text.charAt(end))) {
                    end++;
                }
            }
            if (start > plainStart) {
                out.add(new Segment(text.substring(plainStart, start), -1, plainStart));
            }
            out.add(new Segment(text.substring(start, end), match.id(), start));
            plainStart = end;
            i = end;
        }
        if (plainStart < text.length()) {
            out.add(new Segment(text.substring(plainStart), -1, plainStart));
        }
        return out;
    }

    private AddedToken matchAt(String text, int i) {
        List<AddedToken> candidates = byFirstChar.get(text.charAt(i));
        if (candidates == null) {
            return null;
        }
        for (AddedToken t : candidates) {
            if (text.startsWith(t.content(), i) && (!t.singleWord() || standsAlone(text, i, i + t.content().length()))) {
                return t;
            }
        }
        return null;
    }

    private static boolean standsAlone(String text, int start, int end) {
        return (start == 0 || !isWordChar(text.codePointBefore(start)))
                && (end == text.length() || !isWordChar(text.codePointAt(end)));
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }
}
