package dev.tandem.core.kv;

import dev.tandem.core.compute.KvStorage;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PagedKvCacheTest {
    private static final int BLOCKS = 8;
    private static final int BLOCK_SIZE = 4;

    private final PagedKvCache cache = new PagedKvCache(new Storage(BLOCKS, BLOCK_SIZE));

    @Test
    void shouldStartWithEveryBlockFree() {
        assertEquals(BLOCKS, cache.totalBlocks());
        assertEquals(BLOCKS, cache.freeBlocks());
        assertEquals(BLOCK_SIZE, cache.blockSize());
    }

    @Test
    void shouldCountBlocksForTokensRoundingUp() {
        assertEquals(0, cache.blocksFor(0));
        assertEquals(1, cache.blocksFor(1));
        assertEquals(1, cache.blocksFor(4));
        assertEquals(2, cache.blocksFor(5));
        assertEquals(3, cache.blocksFor(12));
    }

    @Test
    void shouldReserveOnlyTheBlocksATableLacks() {
        BlockTable table = new BlockTable();
        assertTrue(cache.reserve(table, 5));
        assertEquals(2, table.size());
        assertEquals(BLOCKS - 2, cache.freeBlocks());

        assertTrue(cache.reserve(table, 8)); // still two blocks
        assertEquals(2, table.size());
        assertTrue(cache.reserve(table, 3)); // fewer tokens than held: nothing changes
        assertEquals(2, table.size());
        assertTrue(cache.reserve(table, 9));
        assertEquals(3, table.size());
        assertEquals(BLOCKS - 3, cache.freeBlocks());
        assertEquals(3, distinct(table).size());
    }

    @Test
    void shouldFailWithoutAllocatingAnythingWhenBlocksAreShort() {
        BlockTable big = new BlockTable();
        assertTrue(cache.reserve(big, 6 * BLOCK_SIZE));
        BlockTable other = new BlockTable();

        assertFalse(cache.reserve(other, 3 * BLOCK_SIZE));
        assertEquals(0, other.size());
        assertEquals(2, cache.freeBlocks());

        assertFalse(cache.reserve(big, 9 * BLOCK_SIZE)); // growing past the total fails too
        assertEquals(6, big.size());
        assertEquals(2, cache.freeBlocks());

        assertTrue(cache.reserve(other, 2 * BLOCK_SIZE)); // exactly what is left
        assertEquals(0, cache.freeBlocks());
        assertFalse(cache.reserve(new BlockTable(), 1));
    }

    @Test
    void shouldReturnEveryBlockOnRelease() {
        BlockTable a = new BlockTable();
        BlockTable b = new BlockTable();
        assertTrue(cache.reserve(a, 10));
        assertTrue(cache.reserve(b, 7));
        cache.release(a);
        assertEquals(0, a.size());
        assertEquals(BLOCKS - 2, cache.freeBlocks());
        cache.release(b);
        assertEquals(BLOCKS, cache.freeBlocks());
        cache.release(b); // an empty table releases nothing
        assertEquals(BLOCKS, cache.freeBlocks());
    }

    @Test
    void shouldReuseReleasedBlocks() {
        BlockTable a = new BlockTable();
        BlockTable b = new BlockTable();
        BlockTable c = new BlockTable();
        assertTrue(cache.reserve(a, 3 * BLOCK_SIZE));
        assertTrue(cache.reserve(b, 3 * BLOCK_SIZE));
        Set<Integer> released = distinct(a);
        cache.release(a);

        assertTrue(cache.reserve(c, 3 * BLOCK_SIZE));
        assertEquals(released, distinct(c), "the freed blocks, not the two never used");

        cache.release(c);
        assertTrue(cache.reserve(c, 5 * BLOCK_SIZE)); // every block but b's
        Set<Integer> all = distinct(c);
        all.addAll(distinct(b));
        assertEquals(BLOCKS, all.size());
    }

    @Test
    void shouldMapPositionsToSlotsThroughTheBlockTable() {
        BlockTable a = new BlockTable();
        BlockTable b = new BlockTable();
        assertTrue(cache.reserve(a, BLOCK_SIZE));
        assertTrue(cache.reserve(b, BLOCK_SIZE));
        assertTrue(cache.reserve(a, 2 * BLOCK_SIZE)); // a's second block comes after b's first
        int a0 = a.blocks()[0];
        int a1 = a.blocks()[1];
        int b0 = b.blocks()[0];
        assertTrue(a1 != a0 + 1, "a's blocks should not be contiguous");

        assertEquals(a0 * 4, cache.slot(a, 0));
        assertEquals(a0 * 4 + 3, cache.slot(a, 3));
        assertEquals(a1 * 4, cache.slot(a, 4));
        assertEquals(a1 * 4 + 2, cache.slot(a, 6));
        assertEquals(b0 * 4 + 1, cache.slot(b, 1));

        Set<Integer> slots = new HashSet<>();
        for (int p = 0; p < 2 * BLOCK_SIZE; p++) {
            slots.add(cache.slot(a, p));
        }
        for (int p = 0; p < BLOCK_SIZE; p++) {
            slots.add(cache.slot(b, p));
        }
        assertEquals(3 * BLOCK_SIZE, slots.size(), "no two positions share a slot");
        assertTrue(slots.stream().allMatch(s -> s >= 0 && s < BLOCKS * BLOCK_SIZE));
    }

    @Test
    void shouldHandOutLowBlockNumbersFirst() {
        BlockTable a = new BlockTable();
        BlockTable b = new BlockTable();
        assertTrue(cache.reserve(a, BLOCK_SIZE));
        assertTrue(cache.reserve(b, BLOCK_SIZE));
        assertTrue(cache.reserve(a, 2 * BLOCK_SIZE));
        assertArrayEquals(new int[] {0, 2}, Arrays.copyOf(a.blocks(), a.size()));
        assertEquals(1, b.blocks()[0]);
        assertEquals(9, cache.slot(a, 5)); // block 2, offset 1
    }

    @Test
    void shouldGrowABlockTableBeyondItsInitialCapacity() {
        PagedKvCache large = new PagedKvCache(new Storage(64, 2));
        BlockTable table = new BlockTable();
        assertTrue(large.reserve(table, 100));
        assertEquals(50, table.size());
        assertEquals(50, distinct(table).size());
        assertEquals(99 % 2 + table.blocks()[49] * 2, large.slot(table, 99));
    }

    private static Set<Integer> distinct(BlockTable table) {
        Set<Integer> blocks = new HashSet<>();
        for (int i = 0; i < table.size(); i++) {
            blocks.add(table.blocks()[i]);
        }
        return blocks;
    }

    /** Only the geometry: the cache never touches the storage's memory. */
    private record Storage(int blocks, int blockSize) implements KvStorage {
        @Override
        public int layers() {
            return 1;
        }

        @Override
        public int rowWidth() {
            return 1;
        }

        @Override
        public int elementBytes() {
            return Float.BYTES;
        }
    }
}
