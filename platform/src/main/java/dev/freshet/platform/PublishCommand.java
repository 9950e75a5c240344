package dev.freshet.platform;

import dev.freshet.config.Command;
import dev.freshet.config.CommandLine;
import dev.freshet.config.ConfigSource;
import dev.freshet.config.Setting;
import dev.freshet.features.FeatureLayout;
import dev.freshet.platform.internal.PublishingSink;
import dev.freshet.publisher.ModelPublisher;
import dev.freshet.publisher.PublisherConfig;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.ModelDivergedException;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.host.HostModelState;
import dev.freshet.trainer.online.OnlineTrainer;
import dev.freshet.trainer.online.TrainCommand;
import dev.freshet.trainer.online.TrainerBackends;
import dev.freshet.trainer.online.TrainerConfig;
import dev.freshet.trainer.online.TrainerListener;
import dev.freshet.trainer.online.TrainerStatus;
import dev.freshet.trainer.retrain.RetrainConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code freshet publish}: the training service of a distributed deployment. The online trainer
 * ({@code freshet train}'s loop, backend choice and periodic retrain) with the model publisher as its
 * sink, so every DELTA and FULL goes to the model store and the {@code model-updates} topic. The
 * publisher is a {@link dev.freshet.trainer.ModelSink}, called between training steps, so it runs in
 * the trainer's process; {@code freshet train} alone writes model files only.
 */
public final class PublishCommand implements Command {

    @Override
    public String name() {
        return "publish";
    }

    @Override
    public String summary() {
        return "Run the online trainer with the model publisher as its sink: every version goes to the model store and model-updates.";
    }

    @Override
    public String details() {
        return """
                The trainer service of a distributed deployment (docker-compose runs it with a GPU reservation).
                Prints the trainer's status line every trainer.status-interval; Ctrl-C stops after a final checkpoint.
                Example: freshet publish --config deploy/freshet.properties --set kafka.bootstrap-servers=kafka:9092
                """;
    }

    @Override
    public List<Setting<?>> settings() {
        List<Setting<?>> all = new ArrayList<>(TrainerConfig.SETTINGS);
        all.addAll(FeatureLayout.SETTINGS);
        all.addAll(ModelConfig.SETTINGS);
        all.addAll(CpuBackend.SETTINGS);
        all.addAll(CudaOptions.SETTINGS);
        all.addAll(RetrainConfig.SETTINGS);
        all.addAll(PublisherConfig.SETTINGS);
        return FreshetCommands.distinct(all);
    }

    @Override
    public Map<String, String> aliases() {
        return Map.of("bootstrap", "kafka.bootstrap-servers", "backend", TrainerConfig.BACKEND.key());
    }

    @Override
    public int run(CommandLine line) throws Exception {
        ConfigSource c = line.config();
        TrainerConfig config = TrainerConfig.from(c);
        FeatureLayout layout = FeatureLayout.from(c);
        ModelConfig model = ModelConfig.from(layout, c);
        PublisherConfig publisherConfig = PublisherConfig.from(c);
        try (TrainerBackend backend = TrainerBackends.create(config.backend(), model, c);
             ModelPublisher publisher = new ModelPublisher(publisherConfig, layout, Clock.systemUTC());
             PublishingSink sink = new PublishingSink(publisher, backend::state);
             OnlineTrainer trainer = OnlineTrainer.builder(config, model, layout.id())
                     .backend(backend)
                     .sink(sink)
                     .consumer(new KafkaConsumer<>(OnlineTrainer.consumerProperties(config)))
                     .stateAllocator(HostModelState::allocate)
                     .listener(new TrainerListener() {
                         @Override
                         public void status(TrainerStatus status) {
                             System.out.println(status.line() + " | published v" + publisher.metrics().lastVersion());
                         }
                     })
                     .build()) {
            System.out.println("freshet publish: " + backend.description() + "; reading " + config.topics().features() + " at "
                    + config.bootstrapServers() + ", publishing " + publisherConfig.modelName() + " to " + config.topics().modelUpdates()
                    + " and " + publisherConfig.storeDir());
            try {
                TrainCommand.runUntilStopped(trainer, config, c, "freshet-publish");
            } catch (ModelDivergedException e) {
                System.err.println("freshet publish: " + e.getMessage() + " (nothing more was published)");
                return 1;
            }
            System.out.println("freshet publish: stopped at step " + trainer.step() + "; newest published version v"
                    + publisher.metrics().lastVersion());
            return 0;
        }
    }
}
