package dev.freshet.serving;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.Setting;
import dev.freshet.serving.internal.HttpApi;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code freshet serve}: a reference serving replica. Follows the model-update topic with a
 * {@link ModelSubscriber} and answers {@code POST /predict}, {@code GET /model}, {@code /health} and
 * {@code /metrics} over HTTP (loopback by default).
 */
public final class ServeCommand implements Command {
    @Override
    public String name() {
        return "serve";
    }

    @Override
    public String summary() {
        return "Run a serving replica: follow model-updates and answer POST /predict over HTTP.";
    }

    @Override
    public String details() {
        return "example: freshet serve --port 8088\n"
                + "curl -d '{\"events\":[{\"dense\":{\"I1\":3},\"categorical\":{\"C1\":\"68fd1e64\"}}]}' http://127.0.0.1:8088/predict";
    }

    @Override
    public List<Setting<?>> settings() {
        return ServingConfig.SETTINGS;
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("port", ServingConfig.PORT.key(), "host", ServingConfig.HOST.key(), "model", "model.name");
    }

    @Override
    public int run(CommandLine line) throws Exception {
        if (line.help()) {
            System.out.println(CommandLine.usage(this));
            return 0;
        }
        ServingConfig config = ServingConfig.from(line.config());
        CountDownLatch stop = new CountDownLatch(1);
        try (ModelSubscriber subscriber = new ModelSubscriber(config, Clock.systemUTC());
             HttpApi api = new HttpApi(subscriber, config.host(), config.port(), config.maxBatch(),
                     Math.max(2, Runtime.getRuntime().availableProcessors()))) {
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "freshet-serve-shutdown"));
            System.out.println("serving model " + config.modelName() + " (version " + subscriber.currentVersion() + ") on http://"
                    + config.host() + ":" + api.port() + "  (POST /predict, GET /model /health /metrics)");
            stop.await();
        }
        return 0;
    }
}
