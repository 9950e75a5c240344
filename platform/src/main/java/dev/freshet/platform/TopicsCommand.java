package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.CommonSettings;
import dev.freshet.config.Setting;
import dev.freshet.kafka.TopicAdmin;
import dev.freshet.schemas.Topics;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code freshet topics}: creates every Freshet topic that is missing on a Kafka cluster (the embedded
 * demo does this itself; a distributed deployment runs it once before the other services).
 */
public final class TopicsCommand implements Command {

    @Override
    public String name() {
        return "topics";
    }

    @Override
    public String summary() {
        return "Create every missing Freshet topic (clicks, features, model-updates, dead letters, ...) on a Kafka cluster.";
    }

    @Override
    public String details() {
        return "Existing topics are left as they are. Example: freshet topics --bootstrap kafka:9092 --set topics.partitions=8";
    }

    @Override
    public List<Setting<?>> settings() {
        List<Setting<?>> s = new ArrayList<>();
        s.add(CommonSettings.BOOTSTRAP_SERVERS);
        s.addAll(Topics.SETTINGS);
        s.addAll(TopicAdmin.SETTINGS);
        return s;
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("bootstrap", CommonSettings.BOOTSTRAP_SERVERS.key());
    }

    @Override
    public int run(CommandLine line) {
        Topics topics = Topics.from(line.config());
        String bootstrap = line.config().get(CommonSettings.BOOTSTRAP_SERVERS);
        try (Admin admin = Admin.create(Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            List<String> created = TopicAdmin.createAll(admin, topics, TopicAdmin.Config.from(line.config()));
            System.out.println("topics on " + bootstrap + ": created " + created + "; all present: " + topics.all());
        }
        return 0;
    }
}
