package dev.freshet.featurestream;

/**
 * Names of the feature job's Flink metrics (counters), all in the operator metric group
 * {@value #GROUP}. Dead letters are counted in total and per category
 * ({@code deadLetters.undecodable}, {@code deadLetters.unknown-layout}, ...).
 */
public final class FeatureJobMetrics {
    public static final String GROUP = "freshet";
    public static final String DEAD_LETTERS = "deadLetters";
    public static final String DUPLICATES = "duplicatesDropped";
    public static final String IMPRESSIONS_CLICKED = "impressionsClicked";
    public static final String IMPRESSIONS_UNCLICKED = "impressionsUnclicked";
    /** Clicks that arrived after their impression's label window closed (it was already labelled 0). */
    public static final String LATE_CLICKS = "lateClicks";
    /** Clicks whose impression never arrived, or was forgotten long ago. */
    public static final String ORPHAN_CLICKS = "orphanClicks";
    /** Further clicks on an impression already labelled 1: dropped, the label cannot change. */
    public static final String REPEAT_CLICKS = "repeatClicks";
    public static final String EXAMPLES = "examplesWritten";
    public static final String BATCHES = "batchesWritten";
    public static final String STATS_WINDOWS = "statsRecordsWritten";

    private FeatureJobMetrics() {
    }
}
