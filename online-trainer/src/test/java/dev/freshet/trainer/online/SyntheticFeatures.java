package dev.freshet.trainer.online;

import dev.freshet.config.ConfigSource;
import dev.freshet.features.Examples;
import dev.freshet.features.FeatureLayout;
import dev.freshet.schemas.FeatureBatch;
import dev.freshet.schemas.serde.AvroCodec;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.metrics.BinaryMetrics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A seeded click stream with a hidden ground-truth model, already in feature form: three categorical
 * columns (user, item, site) with per-ID effects and a user x item latent interaction, three dense
 * columns with linear effects. Labels are Bernoulli draws of the true probability, so the AUC of the
 * true probabilities on the stream is the best any model can reach ({@link #bestAuc}).
 */
final class SyntheticFeatures {
    static final int USERS = 200;
    static final int ITEMS = 60;
    static final int SITES = 7;
    private static final int LATENT = 3;

    final FeatureLayout layout = FeatureLayout.parse(
            "label:label,d0:numeric,d1:numeric,d2:numeric,user:categorical:" + USERS + ",item:categorical:" + ITEMS
                    + ",site:categorical:" + SITES, 1);
    private final Random random;
    private final double[] userEffect = new double[USERS];
    private final double[] itemEffect = new double[ITEMS];
    private final double[] siteEffect = new double[SITES];
    private final double[][] userLatent = new double[USERS][LATENT];
    private final double[][] itemLatent = new double[ITEMS][LATENT];
    private final double[] denseWeight = {0.8, -0.5, 0.3};
    private final double bias = -1.0;
    private final AvroCodec<FeatureBatch> codec = new AvroCodec<>(FeatureBatch.class);
    /** True probabilities and labels of everything generated, for the best achievable AUC. */
    private final List<float[]> trueProbabilities = new ArrayList<>();
    private final List<byte[]> labels = new ArrayList<>();
    private long eventTime = 1_700_000_000_000L;

    SyntheticFeatures(long seed) {
        this.random = new Random(seed);
        for (int i = 0; i < USERS; i++) {
            userEffect[i] = random.nextGaussian() * 0.8;
            for (int k = 0; k < LATENT; k++) userLatent[i][k] = random.nextGaussian() * 0.7;
        }
        for (int i = 0; i < ITEMS; i++) {
            itemEffect[i] = random.nextGaussian() * 0.8;
            for (int k = 0; k < LATENT; k++) itemLatent[i][k] = random.nextGaussian() * 0.7;
        }
        for (int i = 0; i < SITES; i++) siteEffect[i] = random.nextGaussian() * 0.5;
    }

    /** The DLRM for this layout: dim 8, small MLPs, row-wise Adagrad and Adagrad. */
    ModelConfig model(int batchSize) {
        return ModelConfig.from(layout, ConfigSource.of(Map.of(
                "model.embedding-dim", "8", "model.bottom-mlp", "16,8", "model.top-mlp", "32,1",
                "model.batch-size", Integer.toString(batchSize), "model.seed", "5",
                "model.embedding-learning-rate", "0.1", "model.dense-learning-rate", "0.05")));
    }

    /** {@code count} examples drawn from the hidden model. */
    Examples next(int count) {
        Examples e = new Examples(count, 3, 3);
        e.layoutId = layout.id();
        float[] truth = new float[count];
        for (int i = 0; i < count; i++) {
            int u = skewed(USERS);
            int it = skewed(ITEMS);
            int s = random.nextInt(SITES);
            double logit = bias + userEffect[u] + itemEffect[it] + siteEffect[s];
            for (int k = 0; k < LATENT; k++) logit += userLatent[u][k] * itemLatent[it][k];
            for (int d = 0; d < 3; d++) {
                float x = (float) random.nextGaussian();
                e.dense[i * 3 + d] = x;
                logit += denseWeight[d] * x;
            }
            e.sparse[i * 3] = u;
            e.sparse[i * 3 + 1] = it;
            e.sparse[i * 3 + 2] = s;
            double p = 1 / (1 + Math.exp(-logit));
            truth[i] = (float) p;
            e.labels[i] = (byte) (random.nextDouble() < p ? 1 : 0);
            e.eventTimes[i] = eventTime++;
        }
        e.count = count;
        trueProbabilities.add(truth);
        labels.add(java.util.Arrays.copyOf(e.labels, count));
        return e;
    }

    byte[] encode(Examples e) {
        return codec.encode(e.toRecord());
    }

    /** AUC of the true probabilities over the last {@code examples} generated: what a perfect model would score. */
    double bestAuc(int examples) {
        float[] p = new float[examples];
        byte[] y = new byte[examples];
        int at = examples;
        for (int b = trueProbabilities.size() - 1; b >= 0 && at > 0; b--) {
            float[] tp = trueProbabilities.get(b);
            byte[] ly = labels.get(b);
            for (int i = tp.length - 1; i >= 0 && at > 0; i--) {
                at--;
                p[at] = tp[i];
                y[at] = ly[i];
            }
        }
        return BinaryMetrics.auc(p, y, examples);
    }

    /** A few IDs are much more frequent than the rest, as in real click logs. */
    private int skewed(int n) {
        double u = random.nextDouble();
        return (int) Math.min(n - 1, Math.floor(n * u * u));
    }

    /**
     * Produces {@code recordsPerPartition} records of {@code examplesPerRecord} examples to every partition,
     * partition by partition, record i of partition p the (i * partitions + p)-th generated.
     */
    static void produce(String bootstrap, String topic, int partitions, List<List<byte[]>> perPartition) {
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 8 << 20);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            for (int p = 0; p < partitions; p++) {
                for (byte[] value : perPartition.get(p)) {
                    producer.send(new ProducerRecord<>(topic, p, null, value));
                }
            }
            producer.flush();
        }
    }
}
