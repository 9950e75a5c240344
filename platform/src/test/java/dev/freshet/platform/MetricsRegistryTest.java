package dev.freshet.platform;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsRegistryTest {

    @Test
    void scrapeIsPrometheusTextFormatWithHelpTypeAndSortedLabels() {
        MetricsRegistry m = new MetricsRegistry();
        LongAdder sent = m.counter("freshet_ingest_records_total", "Records produced.", Map.of("topic", "clicks"));
        sent.add(41);
        sent.increment();
        AtomicLong trained = new AtomicLong(1234);
        m.counter("freshet_trainer_examples_total", "Examples trained.", Map.of(), trained::get);
        m.gauge("freshet_trainer_auc", "Progressive AUC.", () -> 0.75);
        m.gauge("freshet_model_version", "Served version.", Map.of("replica", "a", "model", "dlrm"), () -> 7);

        assertEquals("""
                # HELP freshet_ingest_records_total Records produced.
                # TYPE freshet_ingest_records_total counter
                freshet_ingest_records_total{topic="clicks"} 42
                # HELP freshet_model_version Served version.
                # TYPE freshet_model_version gauge
                freshet_model_version{model="dlrm",replica="a"} 7
                # HELP freshet_trainer_auc Progressive AUC.
                # TYPE freshet_trainer_auc gauge
                freshet_trainer_auc 0.75
                # HELP freshet_trainer_examples_total Examples trained.
                # TYPE freshet_trainer_examples_total counter
                freshet_trainer_examples_total 1234
                """, m.scrape());

        trained.set(2000);
        assertEquals(2000.0, m.value("freshet_trainer_examples_total"));
        assertEquals(42.0, m.value("freshet_ingest_records_total", Map.of("topic", "clicks")));
        assertTrue(Double.isNaN(m.value("freshet_nothing_total")));
    }

    @Test
    void sameCounterTwiceIsOneAdderButASupplierTwiceIsRefused() {
        MetricsRegistry m = new MetricsRegistry();
        assertSame(m.counter("a_total", "A."), m.counter("a_total", "A."));
        m.gauge("g", "G.", () -> 1);
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> m.gauge("g", "G.", () -> 2));
        assertTrue(twice.getMessage().contains("already registered"), twice.getMessage());
        m.gauge("x_total", "a gauge that happens to end in _total", () -> 3);
        IllegalArgumentException kind = assertThrows(IllegalArgumentException.class,
                () -> m.counter("x_total", "X.", Map.of("k", "v"), () -> 1L));
        assertTrue(kind.getMessage().contains("already registered as a gauge"), kind.getMessage());
    }

    @Test
    void namesAndSpecialValuesFollowTheFormat() {
        MetricsRegistry m = new MetricsRegistry();
        assertThrows(IllegalArgumentException.class, () -> m.gauge("bad-name", "x", () -> 1));
        IllegalArgumentException noTotal = assertThrows(IllegalArgumentException.class, () -> m.counter("records", "x"));
        assertTrue(noTotal.getMessage().contains("_total"), noTotal.getMessage());
        m.gauge("nan_gauge", "line one\nline two", Map.of("path", "a\"b"), () -> Double.NaN);
        String text = m.scrape();
        assertTrue(text.contains("# HELP nan_gauge line one\\nline two\n"), text);
        assertTrue(text.contains("nan_gauge{path=\"a\\\"b\"} NaN\n"), text);
        assertEquals("+Inf", MetricsRegistry.format(Double.POSITIVE_INFINITY));
        assertEquals("0.125", MetricsRegistry.format(0.125));
    }
}
