package dev.freshet.ingest.internal;

import java.util.ArrayList;
import java.util.List;

/** Counts every reject and keeps the first few reasons to show; memory stays bounded however many lines are bad. */
public final class RejectLog {
    private final int keep;
    private final List<String> first = new ArrayList<>();
    private long count;

    public RejectLog(int keep) {
        this.keep = keep;
    }

    public void add(String reason) {
        count++;
        if (first.size() < keep) {
            first.add(reason);
        }
    }

    public long count() {
        return count;
    }

    public List<String> first() {
        return List.copyOf(first);
    }
}
