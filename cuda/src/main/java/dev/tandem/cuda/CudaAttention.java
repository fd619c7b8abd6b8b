package dev.tandem.cuda;

import dev.tandem.core.compute.Activations;
import dev.tandem.core.compute.KvStorage;
import dev.tandem.core.compute.TokenBatch;

import java.lang.foreign.MemorySegment;

import static dev.tandem.cuda.CudaBackend.DECODE_SPLIT_POSITIONS;
import static dev.tandem.cuda.CudaBackend.DECODE_THREADS;
import static dev.tandem.cuda.CudaBackend.DECODE_WARPS;
import static dev.tandem.cuda.CudaBackend.MAX_DECODE_SPLITS;
import static dev.tandem.cuda.CudaBackend.MAX_GROUP;
import static dev.tandem.cuda.CudaBackend.MIN_TILE_ROWS;
import static dev.tandem.cuda.CudaBackend.MMA_HEAD_DIMS;
import static dev.tandem.cuda.CudaBackend.MMA_THREADS;
import static dev.tandem.cuda.CudaBackend.PREFILL_HEAD_DIM;
import static dev.tandem.cuda.CudaBackend.PREFILL_MMA;
import static dev.tandem.cuda.CudaBackend.PREFILL_SHARED_BYTES;
import static dev.tandem.cuda.CudaBackend.PREFILL_THREADS;
import static dev.tandem.cuda.CudaBackend.TILE_Q;

/** Paged attention over the device KV cache ({@link CudaBackend#attention}): prefill tiles and decode rows. */
final class CudaAttention {
    private final CudaBackend b;
    private int[] meta = new int[0];

    CudaAttention(CudaBackend backend) {
        this.b = backend;
    }

    /**
     * Runs of at least {@link CudaBackend#MIN_TILE_ROWS} consecutive rows of one sequence (prompt chunks) go
     * to the tiled prefill kernel, in tiles of up to {@link CudaBackend#TILE_Q} rows; every other row (decode
     * tokens) to the decode kernel. Both read one packed upload: per row its position and block
     * table offset, the tables, the tiles, the decode rows.
     */
    void run(Activations out, Activations q, KvStorage kv, int layer, TokenBatch batch, int headDim,
                          int window) {
        int rows = batch.size();
        if (rows == 0) {
            return;
        }
        CudaKvStorage s = (CudaKvStorage) kv;
        CudaActivations o = CudaBackend.cuda(out);
        CudaActivations query = CudaBackend.cuda(q);
        int kvHeads = s.rowWidth / headDim;
        int heads = query.cols() / headDim;
        // before reading the field: packing may grow it
        int ints = packMeta(batch, s.blockSize, headDim <= PREFILL_HEAD_DIM);
        long base = b.hostArgs.ints(meta, ints);
        long tables = base + 8L * rows;
        long tiles = base + 4L * tilesAt;
        long decodeRows = base + 4L * decodeRowsAt;
        b.written(o, rows);
        float scale = (float) (1.0 / Math.sqrt(headDim));
        boolean bf16Cache = s.elementBytes == 2;
        if (tileCount > 0) {
            int mma = bf16Cache && PREFILL_MMA ? java.util.Arrays.binarySearch(MMA_HEAD_DIMS, headDim) : -1;
            b.args.reset().p(o.pointer()).i(o.stride()).p(query.pointer()).i(query.stride()).p(s.keys(layer))
                    .p(s.values(layer)).p(base).p(tables).p(tiles).i(s.blockSize).i(kvHeads);
            if (mma < 0) {
                b.args.i(headDim); // the tensor-core kernels have it as a template parameter
            }
            b.args.i(heads / kvHeads).i(window).f(scale);
            if (mma >= 0) { // every row in a tile: the kernel writes the whole bf16 copy
                b.args.p(decodeRowCount == 0 && o.cols() == heads * headDim ? b.producedBf16Copy(o, rows) : 0);
            }
            b.beginOp();
            if (mma >= 0) {
                b.ops.launch(b.k.prefillMma()[mma], heads, tileCount, 1, MMA_THREADS,
                        CudaBackend.mmaSharedBytes(headDim), "attention_prefill_mma");
            } else {
                b.ops.launch(bf16Cache ? b.k.prefillBf16() : b.k.prefillF32(), tileCount, heads, 1, PREFILL_THREADS,
                        PREFILL_SHARED_BYTES, "attention_prefill");
            }
            b.endOp("attention (prefill tiles)");
        }
        if (decodeRowCount > 0) {
            int group = heads / kvHeads;
            int chunks = (group + MAX_GROUP - 1) / MAX_GROUP;
            int splits = decodeSplits(batch, window, decodeRowCount * kvHeads * chunks);
            long partial = splits > 1 ? b.scratch(4L * decodeRowCount * heads * splits * (headDim + 2)) : 0;
            b.args.reset().p(o.pointer()).i(o.stride()).p(query.pointer()).i(query.stride()).p(s.keys(layer))
                    .p(s.values(layer)).p(base).p(tables).p(decodeRows).i(s.blockSize).i(kvHeads).i(headDim)
                    .i(group).i(window).f(scale).i(splits).p(partial);
            b.beginOp();
            int perBlock = Math.min(group, MAX_GROUP);
            boolean narrow = headDim <= PREFILL_HEAD_DIM; // 4 dimensions a lane: fewer registers
            MemorySegment[] kernels = bf16Cache ? (narrow ? b.k.decodeBf16Narrow() : b.k.decodeBf16())
                    : (narrow ? b.k.decodeF32Narrow() : b.k.decodeF32());
            // the kernel for the smallest power of two of query heads that holds a block's
            MemorySegment kernel = kernels[32 - Integer.numberOfLeadingZeros(perBlock - 1)];
            b.ops.launch(kernel, decodeRowCount, kvHeads, chunks * splits, DECODE_THREADS,
                    4 * DECODE_WARPS * perBlock * headDim, "attention_decode");
            if (splits > 1) {
                b.args.reset().p(o.pointer()).i(o.stride()).p(partial).p(decodeRows).i(heads).i(headDim).i(splits);
                b.ops.launch(b.k.decodeMerge(), decodeRowCount, heads, 1, (headDim + 31) / 32 * 32, 0,
                        "attention_decode_merge");
            }
            b.endOp("attention (decode rows)");
        }
    }

    /**
     * Parts to split each decode row's window into, so that a few rows still fill the device (one
     * block per row and KV head would leave most multiprocessors idle at batch 1): enough blocks
     * for two a multiprocessor, at least DECODE_SPLIT_POSITIONS positions a part.
     */
    private int decodeSplits(TokenBatch batch, int window, int blocks) {
        int target = 2 * b.device().multiprocessors();
        if (blocks >= target) {
            return 1;
        }
        int longest = tablePositions;  // a decode batch: what its tables cover, so the split changes seldom
        if (longest == 0) {
            for (int i = 0; i < decodeRowCount; i++) {
                longest = Math.max(longest, batch.positions[decodeRows[i]] + 1);
            }
        }
        if (window > 0) {
            longest = Math.min(window, longest);
        }
        return Math.max(1, Math.min(Math.min((target + blocks - 1) / blocks, longest / DECODE_SPLIT_POSITIONS),
                MAX_DECODE_SPLITS));
    }

    private int tablePositions; // positions a row's table slots cover when all are alike (decode batches), else 0
    private int tilesAt;        // where packMeta put the tiles (ints from the start)
    private int tileCount;
    private int decodeRowsAt;   // …and the rows for the decode kernel
    private int decodeRowCount;

    /**
     * Fills {@link #meta}: per row its position and the offset of its block table, then the
     * tables (consecutive rows of one sequence share one copy, cut to the blocks they reach),
     * then the prefill tiles (first row, row count), then the decode rows. Returns the ints used.
     */
    private int packMeta(TokenBatch batch, int blockSize, boolean tiled) {
        int rows = batch.size();
        int used = 2 * rows;
        ensureMeta(used);
        int capacity = decodeOnlyTableCapacity(batch, blockSize, tiled);
        tablePositions = capacity * blockSize;
        int runs = 0;
        int r = 0;
        while (r < rows) {
            int[] table = batch.blockTables[r];
            int end = r;
            int maxPosition = 0;
            while (end < rows && batch.blockTables[end] == table) {
                maxPosition = Math.max(maxPosition, batch.positions[end]);
                end++;
            }
            int blocks = Math.min(table.length, maxPosition / blockSize + 1);
            int slots = capacity > 0 ? capacity : blocks;
            ensureMeta(used + slots);
            System.arraycopy(table, 0, meta, used, Math.min(table.length, slots));
            java.util.Arrays.fill(meta, used + Math.min(table.length, slots), used + slots, 0);
            blocks = slots;
            for (int i = r; i < end; i++) {
                meta[2 * i] = batch.positions[i];
                meta[2 * i + 1] = used - 2 * rows;
            }
            used += blocks;
            runs++;
            r = end;
        }
        ensureMeta(used + 2 * (rows / MIN_TILE_ROWS + runs) + rows);
        tilesAt = used;
        tileCount = 0;
        int decodeCount = 0;
        int[] decode = decodeScratch(rows);
        for (r = 0; r < rows; ) {
            int end = r;
            while (end < rows && batch.blockTables[end] == batch.blockTables[r]) {
                end++;
            }
            if (tiled && end - r >= MIN_TILE_ROWS) {
                for (int t = r + (end - r - 1) / TILE_Q * TILE_Q; t >= r; t -= TILE_Q) { // the run's last tile first
                    meta[used++] = t;
                    meta[used++] = Math.min(TILE_Q, end - t);
                    tileCount++;
                }
            } else {
                for (int i = r; i < end; i++) {
                    decode[decodeCount++] = i;
                }
            }
            r = end;
        }
        heaviestTilesFirst();
        decodeRowsAt = used;
        decodeRowCount = decodeCount;
        System.arraycopy(decode, 0, meta, used, decodeCount);
        return used + decodeCount;
    }

    /**
     * Orders the tiles by their last row's position, descending: a tile's work grows with it (the keys
     * it attends to), and the tensor-core kernel starts its blocks in tile order. Each run's tiles
     * are already descending, so this insertion sort only merges the runs.
     */
    private void heaviestTilesFirst() {
        for (int i = 1; i < tileCount; i++) {
            int first = meta[tilesAt + 2 * i], count = meta[tilesAt + 2 * i + 1];
            int key = lastPosition(first, count);
            int j = i - 1;
            while (j >= 0 && lastPosition(meta[tilesAt + 2 * j], meta[tilesAt + 2 * j + 1]) < key) {
                meta[tilesAt + 2 * j + 2] = meta[tilesAt + 2 * j];
                meta[tilesAt + 2 * j + 3] = meta[tilesAt + 2 * j + 1];
                j--;
            }
            meta[tilesAt + 2 * j + 2] = first;
            meta[tilesAt + 2 * j + 3] = count;
        }
    }

    private int lastPosition(int firstRow, int count) {
        return meta[2 * (firstRow + count - 1)];
    }

    /**
     * For a batch with no prompt run long enough for the tiled kernel (a decode batch): table slots
     * a row, the same for every row, a power of two that covers the longest table. The meta layout
     * and the decode split then stay the same from step to step (a graph replays them) until the
     * longest sequence doubles. Zero otherwise: each table as long as its rows reach.
     */
    private static int decodeOnlyTableCapacity(TokenBatch batch, int blockSize, boolean tiled) {
        int rows = batch.size();
        int longest = 0;
        for (int r = 0; r < rows; ) {
            int end = r;
            int maxPosition = 0;
            while (end < rows && batch.blockTables[end] == batch.blockTables[r]) {
                maxPosition = Math.max(maxPosition, batch.positions[end]);
                end++;
            }
            if (tiled && end - r >= MIN_TILE_ROWS) {
                return 0;
            }
            longest = Math.max(longest, Math.min(batch.blockTables[r].length, maxPosition / blockSize + 1));
            r = end;
        }
        return Math.max(4, Integer.highestOneBit(Math.max(1, longest - 1)) << 1);
    }

    private int[] decodeRows = new int[0];

    private int[] decodeScratch(int rows) {
        if (decodeRows.length < rows) {
            decodeRows = new int[Math.max(rows, 2 * decodeRows.length)];
        }
        return decodeRows;
    }

    private void ensureMeta(int length) {
        if (meta.length < length) {
            meta = java.util.Arrays.copyOf(meta, Math.max(length, 2 * meta.length));
        }
    }
}
