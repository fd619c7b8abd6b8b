package dev.tandem.scheduling;

import java.util.function.IntPredicate;

/**
 * The machines of a pool in a strict order (the policy's "best first"), kept in a tournament tree
 * so that the best machine with room is found without a scan of them all: at ten thousand machines
 * routing by a scan cost more than everything else a simulated request does. Each node holds the
 * best machine below it and the most room below it; a query takes the root's best when it has room
 * and otherwise descends, best subtree first, skipping subtrees with too little room or nothing
 * better than what it found. It returns what a scan in index order with the same order would.
 * Excluded machines (lost ones) are never returned.
 * <p>
 * The caller calls {@link #changed} after anything the order, the room or the exclusion reads
 * changes for a machine.
 */
final class MachineRanking {
    /** A strict total order: whether machine {@code a} goes before machine {@code b}. */
    interface Order {
        boolean before(int a, int b);
    }

    private final Order order;
    private final long[] room;
    private final boolean[] excluded;
    private final int leaves;      // a power of two, at least the machines
    private final int[] best;      // per node: its best machine, −1 for none
    private final long[] mostRoom; // per node: the most room of the machines below it
    private int found;

    MachineRanking(int machines, Order order, long[] room, boolean[] excluded) {
        this.order = order;
        this.room = room;
        this.excluded = excluded;
        this.leaves = Integer.highestOneBit(Math.max(1, machines - 1)) << 1;
        this.best = new int[2 * leaves];
        this.mostRoom = new long[2 * leaves];
        java.util.Arrays.fill(best, -1);
        java.util.Arrays.fill(mostRoom, Long.MIN_VALUE);
        for (int m = 0; m < machines; m++) {
            setLeaf(m);
        }
        for (int node = leaves - 1; node >= 1; node--) {
            pull(node);
        }
    }

    /** Machine {@code m}'s order, room or exclusion changed. */
    void changed(int m) {
        setLeaf(m);
        for (int node = (leaves + m) >>> 1; node >= 1; node >>>= 1) {
            pull(node);
        }
    }

    /**
     * The first machine in the order with at least {@code minRoom} room that {@code fits}; −1 if none.
     * {@code fits} may ask more than {@code minRoom} of a machine, never less.
     */
    int best(long minRoom, IntPredicate fits) {
        found = -1;
        visit(1, minRoom, fits);
        return found;
    }

    private void visit(int node, long minRoom, IntPredicate fits) {
        int b = best[node];
        if (b < 0 || mostRoom[node] < minRoom || found >= 0 && !order.before(b, found)) {
            return; // nothing here, or nothing better than what was found
        }
        if (room[b] >= minRoom && fits.test(b)) {
            found = b; // the best below this node fits: nothing below beats it
            return;
        }
        if (node >= leaves) {
            return;
        }
        int left = 2 * node;
        int right = left + 1;
        boolean leftFirst = best[right] < 0 || best[left] >= 0 && order.before(best[left], best[right]);
        visit(leftFirst ? left : right, minRoom, fits);
        visit(leftFirst ? right : left, minRoom, fits);
    }

    private void setLeaf(int m) {
        int node = leaves + m;
        best[node] = excluded[m] ? -1 : m;
        mostRoom[node] = excluded[m] ? Long.MIN_VALUE : room[m];
    }

    private void pull(int node) {
        int l = best[2 * node];
        int r = best[2 * node + 1];
        best[node] = l < 0 ? r : r < 0 ? l : order.before(r, l) ? r : l;
        mostRoom[node] = Math.max(mostRoom[2 * node], mostRoom[2 * node + 1]);
    }
}
