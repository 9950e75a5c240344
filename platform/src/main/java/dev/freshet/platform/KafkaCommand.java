package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.CommonSettings;
import dev.freshet.config.Setting;
import dev.freshet.kafka.EmbeddedKafka;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code freshet kafka}: the in-process single-node KRaft broker as a process of its own, on loopback,
 * keeping its data under the work directory. With it the distributed layout runs on one machine
 * without Docker: each other service ({@code topics}, {@code features}, {@code publish}, {@code serve},
 * {@code ingest ...}) in its own process, pointed at the address this prints.
 */
public final class KafkaCommand implements Command {

    @Override
    public String name() {
        return "kafka";
    }

    @Override
    public String summary() {
        return "Run a single-node Kafka broker (KRaft, loopback only) for trying the services as separate processes without Docker.";
    }

    @Override
    public String details() {
        return """
                Prints the bootstrap address (a free port) and runs until Ctrl-C; data stays under <work-dir>/kafka.
                Example: freshet kafka --work-dir /tmp/freshet, then freshet topics --bootstrap 127.0.0.1:PORT, ...
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        return List.of(CommonSettings.WORK_DIR);
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("work-dir", CommonSettings.WORK_DIR.key());
    }

    @Override
    public int run(CommandLine line) throws Exception {
        Path dir = line.config().get(CommonSettings.WORK_DIR).toAbsolutePath().resolve("kafka");
        EmbeddedKafka kafka = EmbeddedKafka.start(dir);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            kafka.close();
            stopped.countDown();
        }, "freshet-kafka-stop"));
        System.out.println("freshet kafka: bootstrap servers " + kafka.bootstrapServers() + " (data in " + dir + "); Ctrl-C stops");
        System.out.flush();
        stopped.await();
        return 0;
    }
}
