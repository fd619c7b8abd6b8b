package dev.tandem.scheduler.http;

import java.util.List;

/**
 * One response's text as its tokens arrive: decodes each id, ends the text at the first stop
 * string (cut before it), and releases only text that cannot turn out to begin a stop string,
 * so that a stream never shows what the final text leaves out. Not thread-safe: one per
 * response, used on its channel's event loop.
 */
final class CompletionText {
    private final TextCodec.Detokenizer detokenizer;
    private final List<String> stops;
    private final int longestStop;
    private final StringBuilder text = new StringBuilder();
    private int released;
    private boolean stopped;
    private final boolean includeStop;
    private final int[] stopTokenIds;

    /** {@code detokenizer} null: no tokenizer, the text stays "". */
    CompletionText(TextCodec.Detokenizer detokenizer, List<String> stops) {
        this(detokenizer, stops, false, new int[0]);
    }

    /**
     * @param includeStop  a matched stop string stays at the end of the text
     * @param stopTokenIds tokens that end the text after their own (a special token's text is empty)
     */
    CompletionText(TextCodec.Detokenizer detokenizer, List<String> stops, boolean includeStop, int[] stopTokenIds) {
        this.detokenizer = detokenizer;
        this.stops = stops;
        this.includeStop = includeStop;
        this.stopTokenIds = stopTokenIds;
        this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /** Adds a generated token; returns the text it releases ("" while held back or once stopped). */
    String append(int id) {
        if (stopped) {
            return "";
        }
        for (int stop : stopTokenIds) {
            if (stop == id) {
                String last = detokenizer == null ? "" : add(detokenizer.next(id) + detokenizer.flush(), true);
                stopped = true;
                return last;
            }
        }
        if (detokenizer == null) {
            return "";
        }
        return add(detokenizer.next(id), false);
    }

    /** The generation ended: releases everything held (after the detokenizer's last piece). */
    String finish() {
        if (stopped || detokenizer == null) {
            return "";
        }
        return add(detokenizer.flush(), true);
    }

    /** A stop string matched: the text ends before it and the rest of the generation is dropped. */
    boolean stopped() {
        return stopped;
    }

    /** The text released so far (all of it after {@link #finish}). */
    String released() {
        return text.substring(0, released);
    }

    private String add(String piece, boolean last) {
        int searchFrom = Math.max(released, text.length() - longestStop + 1);
        text.append(piece);
        int match = firstStop(Math.max(0, searchFrom));
        if (match >= 0) {
            int end = includeStop ? match + stopAt(match).length() : match;
            text.setLength(end);
            stopped = true;
            return release(end);
        }
        return release(last ? text.length() : text.length() - heldBack());
    }

    /** The stop string found at {@code at} (the longest, where several start there). */
    private String stopAt(int at) {
        String found = "";
        for (String stop : stops) {
            if (text.indexOf(stop, at) == at && stop.length() > found.length()) {
                found = stop;
            }
        }
        return found;
    }

    private int firstStop(int from) {
        int first = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop, from);
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        return first;
    }

    /** The longest unreleased end of the text that begins some stop string. */
    private int heldBack() {
        int max = Math.min(longestStop - 1, text.length() - released);
        for (int k = max; k > 0; k--) {
            for (String stop : stops) {
                if (stop.length() > k && endsWithStart(stop, k)) {
                    return k;
                }
            }
        }
        return 0;
    }

    private boolean endsWithStart(String stop, int k) {
        int offset = text.length() - k;
        for (int i = 0; i < k; i++) {
            if (text.charAt(offset + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private String release(int end) {
        String delta = text.substring(released, end);
        released = end;
        return delta;
    }
}
