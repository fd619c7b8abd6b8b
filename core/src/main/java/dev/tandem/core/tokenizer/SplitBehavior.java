package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a split does with the pattern's matches (Hugging Face's {@code SplitDelimiterBehavior}).
 * The text is first cut into alternating non-match and match ranges; {@code invert} swaps which
 * ranges count as matches, so {@code Removed} with {@code invert} keeps only the matches.
 */
enum SplitBehavior {
    REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS;

    static SplitBehavior fromJson(JsonNode behavior, String field, String file) {
        return switch (behavior.asText()) {
            case "Removed" -> REMOVED;
            case "Isolated" -> ISOLATED;
            case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> MERGED_WITH_NEXT;
            case "Contiguous" -> CONTIGUOUS;
            default -> throw new TandemException(file + ": unsupported " + field + ".behavior '" + behavior.asText() + "'");
        };
    }

    /** A range of the text; {@code match}: the pattern matched it (after inversion). */
    private record Range(int start, int end, boolean match) {
    }

    void split(String text, Pattern pattern, boolean invert, List<String> out) {
        List<Range> ranges = ranges(text, pattern, invert);
        List<int[]> pieces = new ArrayList<>(ranges.size());
        boolean previousMatch = false;
        switch (this) {
            case REMOVED -> ranges.stream().filter(r -> !r.match).forEach(r -> pieces.add(new int[] {r.start, r.end}));
            case ISOLATED -> ranges.forEach(r -> pieces.add(new int[] {r.start, r.end}));
            case MERGED_WITH_PREVIOUS -> {
                for (Range r : ranges) {
                    if (r.match && !previousMatch && !pieces.isEmpty()) {
                        pieces.getLast()[1] = r.end;
                    } else {
                        pieces.add(new int[] {r.start, r.end});
                    }
                    previousMatch = r.match;
                }
            }
            case MERGED_WITH_NEXT -> {
                for (int i = ranges.size() - 1; i >= 0; i--) {
                    Range r = ranges.get(i);
                    if (r.match && !previousMatch && !pieces.isEmpty()) {
                        pieces.getLast()[0] = r.start;
                    } else {
                        pieces.add(new int[] {r.start, r.end});
                    }
                    previousMatch = r.match;
                }
                java.util.Collections.reverse(pieces);
            }
            case CONTIGUOUS -> {
                for (int i = 0; i < ranges.size(); i++) {
                    Range r = ranges.get(i);
                    if (i > 0 && r.match == previousMatch) {
                        pieces.getLast()[1] = r.end;
                    } else {
                        pieces.add(new int[] {r.start, r.end});
                    }
                    previousMatch = r.match;
                }
            }
        }
        for (int[] piece : pieces) {
            if (piece[1] > piece[0]) {
                out.add(text.substring(piece[0], piece[1]));
            }
        }
    }

    private static List<Range> ranges(String text, Pattern pattern, boolean invert) {
        List<Range> ranges = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int previousEnd = 0;
        while (m.find()) {
            if (m.end() == m.start()) {
                continue;
            }
            if (m.start() > previousEnd) {
                ranges.add(new Range(previousEnd, m.start(), invert));
            }
            ranges.add(new Range(m.start(), m.end(), !invert));
            previousEnd = m.end();
        }
        if (previousEnd < text.length()) {
            ranges.add(new Range(previousEnd, text.length(), invert));
        }
        return ranges;
    }
}
