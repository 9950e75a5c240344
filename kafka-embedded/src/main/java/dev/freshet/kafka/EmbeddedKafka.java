package dev.freshet.kafka;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.PrintStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A real single-node Kafka cluster in this JVM: one {@link KafkaRaftServer} acting as KRaft controller
 * and broker, listening on loopback only. Tests start one per class; the embedded mode starts one for
 * the demo. Every internal topic (offsets, transaction state, share-group state) has replication
 * factor and min ISR 1, so idempotent and transactional producers, exactly_once_v2 Streams apps and
 * Flink EXACTLY_ONCE sinks all work against it.
 *
 * <p>{@link #close()} stops the server and, when the log directory was created by {@link #start()},
 * deletes it; it is idempotent. Use after close is refused.
 */
public final class EmbeddedKafka implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);
    private static final int NODE_ID = 1;
    private static final String BROKER_LISTENER = "PLAINTEXT";
    private static final String CONTROLLER_LISTENER = "CONTROLLER";
    /** Port binding races (another process taking a "free" port between probe and bind) are retried this often. */
    private static final int START_ATTEMPTS = 3;

    private final KafkaRaftServer server;
    private final Path logDir;
    private final boolean ownsLogDir;
    private final String bootstrapServers;
    private Admin admin;
    private boolean closed;

    private EmbeddedKafka(KafkaRaftServer server, Path logDir, boolean ownsLogDir, String bootstrapServers) {
        this.server = server;
        this.logDir = logDir;
        this.ownsLogDir = ownsLogDir;
        this.bootstrapServers = bootstrapServers;
    }

    /** Starts a broker whose log directory is a fresh temporary directory, deleted again by {@link #close()}. */
    public static EmbeddedKafka start() {
        Path dir;
        try {
            dir = Files.createTempDirectory("freshet-kafka-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary Kafka log directory: " + e.getMessage()
                    + ". Fix: make java.io.tmpdir writable, or pass a log directory to EmbeddedKafka.start(Path).", e);
        }
        try {
            return start(dir, true);
        } catch (RuntimeException e) {
            deleteRecursively(dir);
            throw e;
        }
    }

    /**
     * Starts a broker that keeps its data in {@code logDir} (created if absent, formatted if new), so that
     * topics survive a restart. The directory is left in place by {@link #close()}.
     */
    public static EmbeddedKafka start(Path logDir) {
        Objects.requireNonNull(logDir, "logDir");
        try {
            Files.createDirectories(logDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create Kafka log directory " + logDir + ": " + e.getMessage(), e);
        }
        return start(logDir, false);
    }

    private static EmbeddedKafka start(Path logDir, boolean ownsLogDir) {
        RuntimeException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            int brokerPort = freePort();
            int controllerPort = freePort();
            while (controllerPort == brokerPort) {
                controllerPort = freePort();
            }
            KafkaConfig config = KafkaConfig.fromProps(serverProperties(logDir, brokerPort, controllerPort), false);
            format(config, logDir);
            KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
            try {
                server.startup();
            } catch (RuntimeException e) {
                // Most likely a port taken between the probe and the bind: stop what started and try new ports.
                last = e;
                LOG.warn("embedded Kafka start-up attempt {} failed: {}", attempt, e.toString());
                shutdownQuietly(server);
                continue;
            }
            String bootstrap = "127.0.0.1:" + brokerPort;
            EmbeddedKafka kafka = new EmbeddedKafka(server, logDir, ownsLogDir, bootstrap);
            try {
                kafka.awaitReady(Duration.ofSeconds(60));
            } catch (RuntimeException e) {
                kafka.close();
                throw e;
            }
            LOG.info("embedded Kafka ready at {} (log dir {})", bootstrap, logDir);
            return kafka;
        }
        throw new IllegalStateException("embedded Kafka did not start after " + START_ATTEMPTS + " attempts: "
                + last.getMessage() + ". Fix: check that loopback ports can be bound and the log directory is writable.", last);
    }

    static Properties serverProperties(Path logDir, int brokerPort, int controllerPort) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", Integer.toString(NODE_ID));
        p.put("controller.quorum.voters", NODE_ID + "@127.0.0.1:" + controllerPort);
        p.put("listeners", BROKER_LISTENER + "://127.0.0.1:" + brokerPort + "," + CONTROLLER_LISTENER + "://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", BROKER_LISTENER + "://127.0.0.1:" + brokerPort);
        p.put("listener.security.protocol.map", BROKER_LISTENER + ":PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
        p.put("controller.listener.names", CONTROLLER_LISTENER);
        p.put("inter.broker.listener.name", BROKER_LISTENER);
        p.put("log.dirs", logDir.toAbsolutePath().toString());
        // A single node: every replicated internal topic must accept one replica.
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        // Fewer internal partitions than the production defaults (50): creating them dominates start-up on small machines.
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("share.coordinator.state.topic.num.partitions", "1");
        // Tests and the demo have one consumer per group: waiting for more members only adds latency.
        p.put("group.initial.rebalance.delay.ms", "0");
        // The cleaner only compacts internal topics here; its 128 MiB default buffer would crowd small test heaps.
        p.put("log.cleaner.dedupe.buffer.size", Integer.toString(8 * 1024 * 1024));
        p.put("num.partitions", "1");
        return p;
    }

    /** Writes meta.properties and the bootstrap metadata, unless the directory is already formatted. */
    private static void format(KafkaConfig config, Path logDir) {
        Formatter formatter = new Formatter()
                .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                .setNodeId(NODE_ID)
                .setClusterId(clusterIdFor(logDir))
                .setIgnoreFormatted(true)
                .setControllerListenerName(CONTROLLER_LISTENER)
                .setMetadataLogDirectory(config.metadataLogDir())
                .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                .setDirectories(List.of(logDir.toAbsolutePath().toString()));
        try {
            formatter.run();
        } catch (Exception e) {
            throw new IllegalStateException("cannot format Kafka log directory " + logDir + ": " + e.getMessage()
                    + ". Fix: use an empty directory or one formatted by an earlier EmbeddedKafka.", e);
        }
    }

    /** Reuses the cluster id of a formatted directory so that a restart keeps its data. */
    private static String clusterIdFor(Path logDir) {
        Path meta = logDir.resolve("meta.properties");
        if (Files.isRegularFile(meta)) {
            Properties p = new Properties();
            try (var in = Files.newInputStream(meta)) {
                p.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + meta + ": " + e.getMessage(), e);
            }
            String id = p.getProperty("cluster.id");
            if (id != null) {
                return id;
            }
        }
        return org.apache.kafka.common.Uuid.randomUuid().toString();
    }

    private void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (!admin().describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) {
                    return;
                }
            } catch (ExecutionException | TimeoutException e) {
                last = e;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for embedded Kafka", e);
            }
        }
        throw new IllegalStateException("embedded Kafka at " + bootstrapServers + " did not report a live broker within "
                + timeout.toSeconds() + " s" + (last == null ? "" : ": " + last.getMessage()), last);
    }

    /** {@code host:port} of the broker listener, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        ensureOpen();
        return bootstrapServers;
    }

    /** The directory holding the broker's data. */
    public Path logDir() {
        return logDir;
    }

    /** A fresh mutable map holding {@code bootstrap.servers}; add client-specific settings to it. */
    public Map<String, Object> clientProps() {
        ensureOpen();
        Map<String, Object> props = new HashMap<>();
        props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return props;
    }

    /** Creates a topic with the broker's default retention; fails if it already exists. */
    public void createTopic(String name, int partitions) {
        createTopic(name, partitions, Map.of());
    }

    /** Creates a topic whose records are deleted after {@code retention}; fails if it already exists. */
    public void createTopic(String name, int partitions, Duration retention) {
        Objects.requireNonNull(retention, "retention");
        createTopic(name, partitions, Map.of(TopicConfig.RETENTION_MS_CONFIG, Long.toString(retention.toMillis())));
    }

    /** Creates a topic with the given topic-level configs ({@link TopicConfig} keys); fails if it already exists. */
    public void createTopic(String name, int partitions, Map<String, String> configs) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(configs, "configs");
        if (partitions < 1) {
            throw new IllegalArgumentException("topic " + name + ": partitions = " + partitions + " must be at least 1");
        }
        NewTopic topic = new NewTopic(name, partitions, (short) 1).configs(configs);
        try {
            admin().createTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
            awaitTopicKnown(name, Duration.ofSeconds(30));
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) {
                throw new IllegalStateException("topic " + name + " already exists on " + bootstrapServers
                        + ". Fix: give each test its own topic name.", e.getCause());
            }
            throw new IllegalStateException("cannot create topic " + name + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("creating topic " + name + " timed out after 30 s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topic " + name, e);
        }
    }

    /** Waiting here makes "created" mean "usable" (see {@link TopicAdmin#awaitLeaders}). */
    private void awaitTopicKnown(String name, Duration timeout) throws InterruptedException, TimeoutException {
        TopicAdmin.awaitLeaders(admin(), List.of(name), timeout);
    }

    /** An admin client owned by this broker (closed by {@link #close()}); do not close it yourself. */
    public synchronized Admin admin() {
        ensureOpen();
        if (admin == null) {
            admin = Admin.create(clientProps());
        }
        return admin;
    }

    private synchronized void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("embedded Kafka is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
        shutdownQuietly(server);
        if (ownsLogDir) {
            deleteRecursively(logDir);
        }
    }

    private static void shutdownQuietly(KafkaRaftServer server) {
        try {
            server.shutdown();
            server.awaitShutdown();
        } catch (RuntimeException e) {
            LOG.warn("embedded Kafka shutdown: {}", e.toString());
        }
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free loopback port: " + e.getMessage(), e);
        }
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                    Files.delete(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.warn("could not delete embedded Kafka log directory {}: {}", dir, e.toString());
        }
    }
}
