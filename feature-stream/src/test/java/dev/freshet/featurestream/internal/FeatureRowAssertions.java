package dev.freshet.featurestream.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Field-by-field comparison of feature rows, for the decoder and serializer tests. */
final class FeatureRowAssertions {
    private FeatureRowAssertions() {
    }

    /** Every field of the example; the source record too when {@code withSource} (floats compared by bits). */
    static void assertSameRow(FeatureRow want, FeatureRow got, String what, boolean withSource) {
        assertNotNull(got, what);
        assertEquals(want.eventId, got.eventId, what);
        assertEquals(want.eventIdHash, got.eventIdHash, what);
        assertEquals(want.kind, got.kind, what);
        assertEquals(want.impressionId, got.impressionId, what);
        assertEquals(want.eventTime, got.eventTime, what);
        assertEquals(want.label, got.label, what);
        assertArrayEquals(want.dense, got.dense, what);
        assertArrayEquals(want.sparse, got.sparse, what);
        if (!withSource) return;
        if (want.source == null) {
            assertNull(got.source, what);
        } else {
            assertNotNull(got.source, what);
            assertEquals(want.source.topic, got.source.topic, what);
            assertEquals(want.source.partition, got.source.partition, what);
            assertEquals(want.source.offset, got.source.offset, what);
            assertArrayEquals(want.source.key, got.source.key, what);
            assertArrayEquals(want.source.value, got.source.value, what);
        }
    }
}
