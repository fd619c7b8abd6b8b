package dev.tandem.core.compute;

/**
 * The tokens of one forward step: any mix of prompt chunks and decode tokens from many
 * sequences. Token {@code i} sits at {@code positions[i]} of its sequence, writes its key and
 * value into KV slot {@code slots[i]}, and attends to the slots that {@code blockTables[i]} (its
 * sequence's table, shared, not copied) names for positions {@code 0..positions[i]}.
 * Rows named by {@link #markLogits} get their logits computed. Preallocated to a capacity and
 * refilled every step.
 */
public final class TokenBatch {
    public final int capacity;
    public final int[] tokens;
    public final int[] positions;
    public final int[] slots;
    public final int[][] blockTables;
    public final int[] logitRows;
    /**
     * Set by the scheduler when no row that wants logits keeps them: the model then samples each
     * where the logits are ({@link ComputeBackend#sampleRows}) into {@link #sampled}, from the
     * row's temperature (0: greedy), top-p and draw, and the logits never leave the backend.
     */
    public boolean sampleInModel;
    public final int[] sampled;        // (logit rows) the token sampled for each, when sampleInModel
    public final float[] temperature;  // (logit rows) 0 = greedy
    public final float[] topP;         // (logit rows)
    public final int[] topK;           // (logit rows) 0 = all
    public final float[] minP;         // (logit rows) 0 = none
    public final float[] uniform;      // (logit rows) the draw in [0, 1) from the row's sequence
    private int size;
    private int logitCount;

    public TokenBatch(int capacity) {
        this.capacity = capacity;
        this.tokens = new int[capacity];
        this.positions = new int[capacity];
        this.slots = new int[capacity];
        this.blockTables = new int[capacity][];
        this.logitRows = new int[capacity];
        this.sampled = new int[capacity];
        this.temperature = new float[capacity];
        this.topP = new float[capacity];
        this.topK = new int[capacity];
        this.minP = new float[capacity];
        this.uniform = new float[capacity];
    }

    public int size() {
        return size;
    }

    public int logitCount() {
        return logitCount;
    }

    public void clear() {
        size = 0;
        logitCount = 0;
        sampleInModel = false;
    }

    /** Asks for the logits of the row added last. */
    public void markLogits() {
        logitRows[logitCount++] = size - 1;
    }

    public boolean isFull() {
        return size == capacity;
    }

    /** Appends one token; {@code slot} is where its K/V go, {@code blockTable} its sequence's table. */
    public void add(int token, int position, int slot, int[] blockTable) {
        tokens[size] = token;
        positions[size] = position;
        slots[size] = slot;
        blockTables[size] = blockTable;
        size++;
    }
}
