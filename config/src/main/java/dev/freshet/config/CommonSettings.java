package dev.freshet.config;

import java.nio.file.Path;
import java.util.List;

/**
 * Settings that several components read: declared once here so that each key has one declaration,
 * one default and one line of doc. Components list the ones they use in their own {@code SETTINGS}.
 */
public final class CommonSettings {
    public static final Setting<String> BOOTSTRAP_SERVERS = Setting.ofString("kafka.bootstrap-servers", "127.0.0.1:9092",
            "Kafka bootstrap servers (host:port,...).");
    public static final Setting<Path> WORK_DIR = Setting.ofPath("freshet.work-dir", "freshet-work",
            "Freshet's work directory: Flink temp files, checkpoints, Kafka Streams state and the embedded broker's data go under it.");

    public static final List<Setting<?>> SETTINGS = List.of(BOOTSTRAP_SERVERS, WORK_DIR);

    private CommonSettings() {
    }
}
