package dev.tandem.sim;

import java.util.Arrays;

/**
 * A binary min-heap of event ids keyed by (time, sequence number), with each id's place kept so
 * that an id's event can move or leave: a machine's step end moves when its run is cut short,
 * where a plain priority queue would keep the stale one. Primitive arrays, no allocation once
 * grown; ties go to the lower sequence number, so events at one time run in the order they were
 * scheduled.
 */
final class EventHeap {
    private int[] heap = new int[16];     // ids, heap-ordered
    private int[] place = new int[16];    // (id) its index in heap, −1 when absent
    private double[] atMs = new double[16]; // (id)
    private long[] seq = new long[16];      // (id)
    private int size;

    EventHeap() {
        Arrays.fill(place, -1);
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** The earliest id; the heap must not be empty. */
    int peek() {
        return heap[0];
    }

    double peekAtMs() {
        return atMs[heap[0]];
    }

    long peekSeq() {
        return seq[heap[0]];
    }

    /** Puts {@code id}'s event at ({@code at}, {@code sequence}), moving it if it is already there. */
    void put(int id, double at, long sequence) {
        if (id >= place.length) {
            int n = Math.max(id + 1, 2 * place.length);
            int old = place.length;
            place = Arrays.copyOf(place, n);
            Arrays.fill(place, old, n, -1);
            atMs = Arrays.copyOf(atMs, n);
            seq = Arrays.copyOf(seq, n);
        }
        atMs[id] = at;
        seq[id] = sequence;
        int i = place[id];
        if (i < 0) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, 2 * size);
            }
            i = size++;
            heap[i] = id;
            place[id] = i;
        }
        siftDown(siftUp(i));
    }

    /** Takes the earliest id out and returns it. */
    int poll() {
        int id = heap[0];
        remove(id);
        return id;
    }

    /** Takes {@code id}'s event out, if there. */
    void remove(int id) {
        int i = id < place.length ? place[id] : -1;
        if (i < 0) {
            return;
        }
        place[id] = -1;
        int last = heap[--size];
        if (i < size) {
            heap[i] = last;
            place[last] = i;
            siftDown(siftUp(i));
        }
    }

    private boolean before(int a, int b) {
        return atMs[a] != atMs[b] ? atMs[a] < atMs[b] : seq[a] < seq[b];
    }

    private int siftUp(int i) {
        int id = heap[i];
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!before(id, heap[parent])) {
                break;
            }
            heap[i] = heap[parent];
            place[heap[i]] = i;
            i = parent;
        }
        heap[i] = id;
        place[id] = i;
        return i;
    }

    private void siftDown(int i) {
        int id = heap[i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && before(heap[child + 1], heap[child])) {
                child++;
            }
            if (!before(heap[child], id)) {
                break;
            }
            heap[i] = heap[child];
            place[heap[i]] = i;
            i = child;
        }
        heap[i] = id;
        place[id] = i;
    }
}
