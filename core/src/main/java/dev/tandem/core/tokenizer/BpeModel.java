package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TandemException;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code "model": {"type": "BPE"}} of tokenizer.json: a word's characters (or, with byte
 * fallback, the {@code <0xNN>} tokens of their UTF-8 bytes) merged pair by pair, lowest rank first
 * and leftmost first among equal ranks, as Hugging Face's {@code Word::merge_all} does. Words are
 * cached, so repeated pre-tokens cost one map look-up.
 */
final class BpeModel {
    private static final int CACHE_CAPACITY = 10_000;
    private static final int MAX_CACHED_WORD_CHARS = 256;

    private final Map<String, Integer> vocab;
    private final MergeTable merges;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final String subwordPrefix;
    private final String wordSuffix;
    /** {@code <0xNN>} ids by byte; -1 where the vocabulary lacks the token. */
    private final int[] byteTokenIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private BpeModel(Map<String, Integer> vocab, MergeTable merges, int unkId, boolean fuseUnk, boolean byteFallback,
                     boolean ignoreMerges, String subwordPrefix, String wordSuffix) {
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.subwordPrefix = subwordPrefix;
        this.wordSuffix = wordSuffix;
        for (int b = 0; b < 256; b++) {
            byteTokenIds[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        }
    }

    /** Reads {@code model} (already known to be of type BPE) from {@code file}. */
    static BpeModel fromJson(JsonNode model, String file) {
        JsonNode vocabNode = model.path("vocab");
        if (!vocabNode.isObject()) {
            throw new TandemException(file + ": model.vocab must be an object of token -> id");
        }
        Map<String, Integer> vocab = new HashMap<>(vocabNode.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        String prefix = Components.textOrEmpty(model, "continuing_subword_prefix");
        JsonNode mergesNode = model.path("merges");
        MergeTable merges = new MergeTable(mergesNode.size());
        for (int rank = 0; rank < mergesNode.size(); rank++) {
            String[] pair = mergePair(mergesNode.get(rank), rank, file);
            String mergedToken = pair[0] + pair[1].substring(pair[1].startsWith(prefix) ? prefix.length() : 0);
            merges.put(idOf(vocab, pair[0], rank, file), idOf(vocab, pair[1], rank, file), rank,
                    idOf(vocab, mergedToken, rank, file));
        }
        String unk = model.path("unk_token").isTextual() ? model.get("unk_token").asText() : null;
        int unkId = unk == null ? -1 : vocab.getOrDefault(unk, -1);
        if (unk != null && unkId < 0) {
            throw new TandemException(file + ": model.unk_token '" + unk + "' is not in model.vocab");
        }
        return new BpeModel(vocab, merges, unkId, model.path("fuse_unk").asBoolean(false),
                model.path("byte_fallback").asBoolean(false), model.path("ignore_merges").asBoolean(false),
                prefix, Components.textOrEmpty(model, "end_of_word_suffix"));
    }

    /** Merges may be written as {@code "a b"} or, in newer files, as {@code ["a", "b"]}. */
    private static String[] mergePair(JsonNode merge, int rank, String file) {
        if (merge.isArray() && merge.size() == 2) {
            return new String[] {merge.get(0).asText(), merge.get(1).asText()};
        }
        if (merge.isTextual()) {
            String line = merge.asText();
            int space = line.indexOf(' ', 1);
            if (space > 0 && line.indexOf(' ', space + 1) < 0) {
                return new String[] {line.substring(0, space), line.substring(space + 1)};
            }
        }
        throw new TandemException(file + ": model.merges[" + rank + "] must be \"a b\" or [\"a\", \"b\"], got " + merge);
    }

    private static int idOf(Map<String, Integer> vocab, String token, int rank, String file) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new TandemException(file + ": model.merges[" + rank + "] uses '" + token + "', which is not in model.vocab");
        }
        return id;
    }

    Map<String, Integer> vocab() {
        return vocab;
    }

    /** The token ids of one pre-tokenized word. */
    int[] tokenize(String word) {
        if (word.isEmpty()) {
            return new int[0];
        }
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        if (word.length() > MAX_CACHED_WORD_CHARS) {
            return merge(initialSymbols(word));
        }
        int[] cached = cache.get(word);
        if (cached == null) {
            cached = merge(initialSymbols(word));
            if (cache.size() >= CACHE_CAPACITY) {
                cache.clear();
            }
            cache.put(word, cached);
        }
        return cached;
    }

    /** One symbol per character; characters outside the vocabulary fall back to bytes or unk. */
    private IntList initialSymbols(String word) {
        IntList symbols = new IntList(word.length());
        boolean previousWasUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int end = i + Character.charCount(cp);
            String piece = (i > 0 ? subwordPrefix : "") + word.substring(i, end) + (end == word.length() ? wordSuffix : "");
            i = end;
            Integer id = vocab.get(piece);
            if (id != null) {
                symbols.add(id);
                previousWasUnk = false;
            } else if (byteFallback && addByteTokens(Character.toString(cp), symbols)) {
                previousWasUnk = false;
            } else if (unkId >= 0) {
                if (!(fuseUnk && previousWasUnk)) {
                    symbols.add(unkId);
                }
                previousWasUnk = true;
            }
        }
        return symbols;
    }

    private boolean addByteTokens(String character, IntList symbols) {
        byte[] bytes = character.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteTokenIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteTokenIds[b & 0xFF]);
        }
        return true;
    }

    /**
     * Applies merges over a linked list of symbols. Queue entries pack (rank, position) into one
     * long so the heap orders by rank, then leftmost position; stale entries are skipped on pop.
     */
    private int[] merge(IntList symbols) {
        int n = symbols.size();
        int[] ids = symbols.toArray();
        int[] next = new int[n];
        int[] prev = new int[n];
        boolean[] removed = new boolean[n];
        LongMinHeap queue = new LongMinHeap();
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            if (i + 1 < n) {
                enqueue(queue, ids[i], ids[i + 1], i);
            }
        }
        int alive = n;
        while (!queue.isEmpty()) {
            long top = queue.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            int right = next[pos];
            if (removed[pos] || right < 0) {
                continue;
            }
            int slot = merges.find(ids[pos], ids[right]);
            if (slot < 0 || merges.rank(slot) != rank) {
                continue;
            }
            ids[pos] = merges.mergedId(slot);
            removed[right] = true;
            alive--;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
                enqueue(queue, ids[pos], ids[next[pos]], pos);
            }
            if (prev[pos] >= 0) {
                enqueue(queue, ids[prev[pos]], ids[pos], prev[pos]);
            }
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0 && k < alive; i = next[i]) {
            out[k++] = ids[i];
        }
        return out;
    }

    private void enqueue(LongMinHeap queue, int left, int right, int pos) {
        int slot = merges.find(left, right);
        if (slot >= 0) {
            queue.push(((long) merges.rank(slot) << 32) | pos);
        }
    }
}
