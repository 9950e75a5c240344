package dev.freshet.trainer.retrain;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RetrainConfigTest {

    @Test
    void defaultsAreValidAndTriggersOff() {
        RetrainConfig c = RetrainConfig.defaults();
        assertFalse(c.scheduled(), "schedule is opt-in");
        assertFalse(c.driftTriggered(), "drift trigger is opt-in");
        assertEquals(1, c.passes());
        assertEquals(Duration.ofDays(1), c.window());
    }

    @Test
    void readsEverySettingFromTheConfig() {
        RetrainConfig c = RetrainConfig.from(ConfigSource.of(Map.of("retrain.interval", "6h", "retrain.window", "2h",
                "retrain.passes", "3", "retrain.drift-auc", "0.7", "retrain.drift-for", "5m", "retrain.min-auc-gain", "0.01")));
        assertTrue(c.scheduled());
        assertTrue(c.driftTriggered());
        assertEquals(Duration.ofHours(6), c.interval());
        assertEquals(Duration.ofHours(2), c.window());
        assertEquals(3, c.passes());
        assertEquals(0.7, c.driftAuc());
        assertEquals(Duration.ofMinutes(5), c.driftFor());
        assertEquals(0.01, c.minAucGain());
    }

    @Test
    void outOfRangeValueNamesKeyValueAndRange() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> RetrainConfig.from(ConfigSource.of(Map.of("retrain.passes", "0"))));
        assertTrue(e.getMessage().contains("retrain.passes") && e.getMessage().contains("'0'") && e.getMessage().contains("1..1000"),
                e.getMessage());
    }

    @Test
    void conflictingHoldoutSizesAreRefusedWithAFix() {
        ConfigException e = assertThrows(ConfigException.class, () -> RetrainConfig.from(ConfigSource.of(
                Map.of("retrain.holdout-examples", "500", "retrain.min-holdout-examples", "1000"))));
        assertTrue(e.getMessage().contains("retrain.min-holdout-examples = 1000") && e.getMessage().contains("Fix:"), e.getMessage());
    }

    @Test
    void intervalShorterThanHoldoutWaitIsRefused() {
        ConfigException e = assertThrows(ConfigException.class, () -> RetrainConfig.from(ConfigSource.of(
                Map.of("retrain.interval", "1m", "retrain.holdout-timeout", "10m"))));
        assertTrue(e.getMessage().contains("retrain.interval = 1m"), e.getMessage());
    }
}
