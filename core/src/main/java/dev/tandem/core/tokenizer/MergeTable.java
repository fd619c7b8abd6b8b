package dev.tandem.core.tokenizer;

import java.util.Arrays;

/**
 * BPE merges keyed by the pair of token ids: open addressing over primitive arrays, so the merge
 * loop looks pairs up without boxing. Each entry holds the merge's rank (its line in the merges
 * list; lower merges first) and the id of the merged token.
 */
final class MergeTable {
    private static final long EMPTY = -1L;
    private final long[] keys;
    private final int[] ranks;
    private final int[] mergedIds;
    private final int mask;

    MergeTable(int expectedEntries) {
        int capacity = Integer.highestOneBit(Math.max(16, expectedEntries * 2 - 1)) << 1;
        keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        ranks = new int[capacity];
        mergedIds = new int[capacity];
        mask = capacity - 1;
    }

    /** Keeps the first (lowest) rank when a pair is listed twice, as Hugging Face does. */
    void put(int left, int right, int rank, int mergedId) {
        long key = key(left, right);
        int slot = slot(key);
        if (keys[slot] == key) {
            return;
        }
        keys[slot] = key;
        ranks[slot] = rank;
        mergedIds[slot] = mergedId;
    }

    /** The slot holding the pair, or -1 if the pair never merges. */
    int find(int left, int right) {
        long key = key(left, right);
        int slot = slot(key);
        return keys[slot] == key ? slot : -1;
    }

    int rank(int slot) {
        return ranks[slot];
    }

    int mergedId(int slot) {
        return mergedIds[slot];
    }

    private int slot(long key) {
        int slot = (int) (mix(key) & mask);
        while (keys[slot] != EMPTY && keys[slot] != key) {
            slot = (slot + 1) & mask;
        }
        return slot;
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private static long mix(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return h ^ (h >>> 29);
    }
}
