package dev.freshet.featurestream.internal;

/**
 * Event-id fingerprints seen recently, each with the event time at which it is forgotten: an
 * open-addressing hash table (linear probing) of two parallel long arrays, 16 bytes a slot. An entry
 * whose expiry the watermark has passed counts as absent; it keeps its slot (a tombstone, so that probe
 * chains stay intact) until a later insert reuses the slot or a resize drops it. No timer per id: this
 * is what makes dedup cheap at hundreds of thousands of events per second.
 *
 * <p>A Flink POJO so that it is checkpointed as keyed state (and redistributed on rescaling) by
 * Flink's own serializer. Expiry 0 marks an empty slot.
 */
public class SeenIds {
    private static final int MIN_CAPACITY = 16;

    public long[] ids;
    public long[] expiries;
    /** Slots holding an entry, live or expired. */
    public int used;
    /**
     * The largest watermark a {@link #checkAndAdd} was given: entries expired by it are absent for every later call,
     * so a checkpoint leaves them out ({@link SeenIdsSerializer}). Not part of the POJO (transient).
     */
    public transient long latestWatermark = Long.MIN_VALUE;

    public SeenIds() {
        ids = new long[MIN_CAPACITY];
        expiries = new long[MIN_CAPACITY];
    }

    /**
     * Records {@code id} as seen until {@code expiry} unless it is already there and live at
     * {@code watermark}; returns true if it was there (a duplicate).
     */
    public boolean checkAndAdd(long id, long expiry, long watermark) {
        if (watermark > latestWatermark) latestWatermark = watermark;
        if (used + 1 > ids.length * 3 / 4) {
            resize(watermark);
        }
        int mask = ids.length - 1;
        int reuse = -1;
        for (int i = spread(id) & mask; ; i = (i + 1) & mask) {
            long e = expiries[i];
            if (e == 0) {
                int at = reuse >= 0 ? reuse : i;
                if (reuse < 0) used++;
                ids[at] = id;
                expiries[at] = expiry;
                return false;
            }
            boolean live = e > watermark;
            if (ids[i] == id) {
                if (live) return true;
                expiries[i] = expiry; // seen before, but forgotten: a new first occurrence
                return false;
            }
            if (!live && reuse < 0) reuse = i;
        }
    }

    /** Live entries at {@code watermark}. */
    public int live(long watermark) {
        int n = 0;
        for (long e : expiries) if (e > watermark) n++;
        return n;
    }

    /**
     * A table of {@code count} distinct ids with their expiries (none 0), sized as a resize sizes it: what a
     * checkpoint of live entries restores.
     */
    static SeenIds of(long[] ids, long[] expiries, int count) {
        SeenIds s = new SeenIds();
        int capacity = capacityFor(count);
        s.ids = new long[capacity];
        s.expiries = new long[capacity];
        for (int j = 0; j < count; j++) s.place(ids[j], expiries[j]);
        s.used = count;
        return s;
    }

    /** At most 3/8 full with {@code live} entries and one more. */
    private static int capacityFor(int live) {
        int capacity = MIN_CAPACITY;
        while (capacity * 3 / 8 < live + 1) capacity <<= 1;
        return capacity;
    }

    private void resize(long watermark) {
        int live = live(watermark);
        int capacity = capacityFor(live);
        long[] oldIds = ids;
        long[] oldExpiries = expiries;
        ids = new long[capacity];
        expiries = new long[capacity];
        used = 0;
        for (int j = 0; j < oldIds.length; j++) {
            if (oldExpiries[j] > watermark) {
                place(oldIds[j], oldExpiries[j]);
                used++;
            }
        }
    }

    /** Puts an id known to be absent into the first empty slot of its probe chain (rebuilding a table: no tombstones). */
    private void place(long id, long expiry) {
        int mask = ids.length - 1;
        int i = spread(id) & mask;
        while (expiries[i] != 0) i = (i + 1) & mask;
        ids[i] = id;
        expiries[i] = expiry;
    }

    /** The ids are already hashes, but their low bits also chose the Flink key: mix so that slots spread. */
    private static int spread(long id) {
        long h = id * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 32);
    }
}
