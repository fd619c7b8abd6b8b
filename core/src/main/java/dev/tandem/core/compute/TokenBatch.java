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
     * Set by the scheduler when every row that wants logits only needs its argmax (greedy, no
     * logits kept): the model then leaves the logits where they are and fills {@link #argmax}.
     */
    public boolean argmaxOnly;
    public final int[] argmax;      // (logit rows) the greedy token of each, when argmaxOnly
    private int size;
    private int logitCount;

    public TokenBatch(int capacity) {
        this.capacity = capacity;
        this.tokens = new int[capacity];
        this.positions = new int[capacity];
        this.slots = new int[capacity];
        this.blockTables = new int[capacity][];
        this.logitRows = new int[capacity];
        this.argmax = new int[capacity];
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
        argmaxOnly = false;
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
