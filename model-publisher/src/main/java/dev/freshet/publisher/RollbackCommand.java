package dev.freshet.publisher;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigException;
import dev.freshet.config.Setting;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code freshet model rollback --to V}: republishes version V of the model as its newest FULL, so every
 * serving replica moves to it. Uses its own Kafka transactional id, so a running publisher is not fenced.
 */
public final class RollbackCommand implements Command {
    /** -1 (the default) means "not given": the README's settings table is generated from this declaration. */
    public static final Setting<Long> TO = Setting.ofLong("rollback.to", -1, -1, Long.MAX_VALUE,
            "The model version to republish as the newest FULL (required).");

    @Override
    public String name() {
        return "model rollback";
    }

    @Override
    public String summary() {
        return "Republish an older model version as the newest FULL, for every serving replica.";
    }

    @Override
    public String details() {
        return "example: freshet model rollback --to 42 --set model.name=dlrm\n"
                + "The version must still be in the model store (see publisher.keep-versions).";
    }

    @Override
    public List<Setting<?>> settings() {
        List<Setting<?>> s = new ArrayList<>(PublisherConfig.SETTINGS);
        s.add(TO);
        return s;
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("to", TO.key());
    }

    @Override
    public int run(CommandLine line) {
        if (line.help()) {
            System.out.println(CommandLine.usage(this));
            return 0;
        }
        if (!line.config().isSet(TO) || line.config().get(TO) < 0) {
            throw new ConfigException("freshet model rollback needs the version to return to. Fix: add --to VERSION (see the versions in "
                    + line.config().get(PublisherConfig.STORE_DIR) + ")");
        }
        long to = line.config().get(TO);
        PublisherConfig base = PublisherConfig.from(line.config());
        PublisherConfig config = new PublisherConfig(base.bootstrapServers(), base.topics(), base.storeDir(), base.modelName(),
                base.transactionalId() + "-rollback", base.maxChunkBytes(), base.fullInterval(), base.keepVersions(), base.maxAucDrop());
        ModelStore store = ModelStore.open(config.storeDir(), config.modelName());
        if (!store.versions().contains(to)) {
            System.err.println("model " + config.modelName() + " has no version " + to + " in " + store.root() + "; versions: " + store.versions());
            return 1;
        }
        try (ModelPublisher publisher = new ModelPublisher(config, null, Clock.systemUTC())) {
            ModelManifest m = publisher.rollbackTo(to);
            if (publisher.metrics().publishFailures() > 0) {
                System.err.println("version " + m.version() + " (rollback of " + to + ") is in the store but its announcement failed; "
                        + "serving replicas pick it up when they resync");
                return 1;
            }
            System.out.println("model " + config.modelName() + ": version " + to + " republished as FULL " + m.version());
            return 0;
        }
    }
}
