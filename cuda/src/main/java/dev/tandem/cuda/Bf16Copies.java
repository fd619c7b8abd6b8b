package dev.tandem.cuda;

/**
 * The bf16 copies of float32 rows that bf16 GEMMs read, kept so that consecutive GEMMs of one
 * input (q, k and v; an expert's w1 and w3; every expert of a dense MoE layer) round it once,
 * and so that the SwiGLU kernel can hand the down projection its output already rounded. Two
 * entries, least recently used first out. An entry dies when anything writes over its source
 * rows ({@link #written}), when its buffer is reused, and when the stream drains (the host may
 * then write mapped rows the device never sees written).
 */
final class Bf16Copies {
    private final long[] source = new long[2];
    private final long[] sourceBytes = new long[2];
    private final int[] rows = new int[2];
    private final int[] cols = new int[2];
    private final int[] stride = new int[2];
    private final boolean[] valid = new boolean[2];
    private final long[] buffer = new long[2];
    private final long[] capacity = new long[2];
    private final long[] lastUse = new long[2];
    private long clock;

    /** The copy of exactly these rows, or 0. */
    long find(long src, int r, int c, int s) {
        for (int i = 0; i < 2; i++) {
            if (valid[i] && source[i] == src && rows[i] == r && cols[i] == c && stride[i] == s) {
                lastUse[i] = ++clock;
                return buffer[i];
            }
        }
        return 0;
    }

    /** The entry to fill next: the one used least recently. */
    int victim() {
        return lastUse[0] <= lastUse[1] ? 0 : 1;
    }

    long capacity(int entry) {
        return capacity[entry];
    }

    void setBuffer(int entry, long pointer, long bytes) {
        buffer[entry] = pointer;
        capacity[entry] = bytes;
        valid[entry] = false;
    }

    long buffer(int entry) {
        return buffer[entry];
    }

    /** Entry {@code entry} now holds (once the enqueued kernel runs) the bf16 rows of this source. */
    void fill(int entry, long src, int r, int c, int s) {
        source[entry] = src;
        sourceBytes[entry] = 4L * ((long) (r - 1) * s + c);
        rows[entry] = r;
        cols[entry] = c;
        stride[entry] = s;
        valid[entry] = true;
        lastUse[entry] = ++clock;
    }

    /** A kernel will write {@code bytes} from {@code pointer}: copies of rows there are stale. */
    void written(long pointer, long bytes) {
        for (int i = 0; i < 2; i++) {
            if (valid[i] && pointer < source[i] + sourceBytes[i] && source[i] < pointer + bytes) {
                valid[i] = false;
            }
        }
    }

    /** Also forgets the order of use: from a drained stream, the same GEMMs pick the same entries (a graph replays them). */
    void clear() {
        valid[0] = false;
        valid[1] = false;
        lastUse[0] = 0;
        lastUse[1] = 0;
        clock = 0;
    }
}
