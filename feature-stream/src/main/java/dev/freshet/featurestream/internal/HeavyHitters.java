package dev.freshet.featurestream.internal;

import java.util.Arrays;

/**
 * The k items with the largest count-min estimates seen so far (the heavy-hitters scheme of Cormode
 * and Muthukrishnan 2005, section 5.1): a min-heap of (item, estimate) plus an open-addressing index
 * from item to heap slot. Each offer is O(1) for an item outside the heap whose estimate does not beat
 * the heap's minimum (the common case for the long tail) and O(log k) otherwise. Memory is fixed by k.
 */
public final class HeavyHitters {
    private final int k;
    private final long[] items;
    private final long[] estimates;
    private int size;
    // index: item -> heap slot, linear probing; EMPTY marks a free slot
    private static final int EMPTY = -1;
    private final long[] keys;
    private final int[] slots;
    private final int mask;
    /** Heap position -> index in keys/slots, so that sifting never searches the index. */
    private final int[] slotOf;

    public HeavyHitters(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("top-k needs k >= 1; got " + k);
        }
        this.k = k;
        this.items = new long[k];
        this.estimates = new long[k];
        int cap = Integer.highestOneBit(Math.max(4, k * 4) - 1) << 1;
        this.keys = new long[cap];
        this.slots = new int[cap];
        Arrays.fill(slots, EMPTY);
        this.mask = cap - 1;
        this.slotOf = new int[k];
    }

    public int size() {
        return size;
    }

    /** Records that {@code item} now has count estimate {@code estimate}; an item's estimates must only grow. */
    public void offer(long item, long estimate) {
        // Estimates only grow, so an item in the heap now has an estimate above the one it is stored with,
        // which is at least the minimum: an item at or below the minimum of a full heap is not in it and does
        // not get in. This skips the index for the long tail, most offers.
        if (size == k && estimate <= estimates[0]) {
            return;
        }
        int at = find(item);
        if (at >= 0) {
            int pos = slots[at];
            estimates[pos] = estimate;
            siftDown(pos);
        } else if (size < k) {
            int pos = size++;
            items[pos] = item;
            estimates[pos] = estimate;
            insert(item, pos);
            siftUp(pos);
        } else if (estimate > estimates[0]) {
            removeAt(slotOf[0]);
            items[0] = item;
            estimates[0] = estimate;
            insert(item, 0);
            siftDown(0);
        }
    }

    /** The items in no particular order (the heap's), at most k: where order does not matter, without {@link #items}' sort. */
    public long[] itemsUnordered() {
        return Arrays.copyOf(items, size);
    }

    /** The items, largest estimate first (ties by item), at most k. */
    public long[] items() {
        Integer[] order = new Integer[size];
        for (int i = 0; i < size; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> estimates[a] != estimates[b] ? Long.compare(estimates[b], estimates[a]) : Long.compare(items[a], items[b]));
        long[] out = new long[size];
        for (int i = 0; i < size; i++) out[i] = items[order[i]];
        return out;
    }

    private void siftUp(int pos) {
        while (pos > 0) {
            int parent = (pos - 1) >>> 1;
            if (estimates[parent] <= estimates[pos]) break;
            swap(pos, parent);
            pos = parent;
        }
    }

    private void siftDown(int pos) {
        while (true) {
            int l = 2 * pos + 1;
            if (l >= size) return;
            int r = l + 1;
            int least = r < size && estimates[r] < estimates[l] ? r : l;
            if (estimates[pos] <= estimates[least]) return;
            swap(pos, least);
            pos = least;
        }
    }

    private void swap(int a, int b) {
        long ti = items[a];
        long te = estimates[a];
        items[a] = items[b];
        estimates[a] = estimates[b];
        items[b] = ti;
        estimates[b] = te;
        int ts = slotOf[a];
        slotOf[a] = slotOf[b];
        slotOf[b] = ts;
        slots[slotOf[a]] = a;
        slots[slotOf[b]] = b;
    }

    private static int hash(long item) {
        long h = item * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32));
    }

    private int find(long item) {
        for (int i = hash(item) & mask; ; i = (i + 1) & mask) {
            if (slots[i] == EMPTY) return -1;
            if (keys[i] == item) return i;
        }
    }

    private void insert(long item, int pos) {
        int i = hash(item) & mask;
        while (slots[i] != EMPTY) i = (i + 1) & mask;
        keys[i] = item;
        slots[i] = pos;
        slotOf[pos] = i;
    }

    /** Linear-probing deletion of index entry i with backward shift, so that lookups never need tombstones. */
    private void removeAt(int i) {
        int j = i;
        while (true) {
            j = (j + 1) & mask;
            if (slots[j] == EMPTY) break;
            int home = hash(keys[j]) & mask;
            // move entry j into the hole at i if its home position is not cyclically in (i, j]
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
                keys[i] = keys[j];
                slots[i] = slots[j];
                slotOf[slots[i]] = i;
                i = j;
            }
        }
        slots[i] = EMPTY;
    }
}
