package dev.freshet.serving.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.serving.ModelSubscriber;
import dev.freshet.serving.ServingModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The reference serving process's HTTP API on the JDK's HTTP server:
 * <pre>
 * POST /predict  {"events": [event, ...]} or [event, ...]  ->  {"version": V, "probabilities": [...], "errors": [{"index", "reason"}]}
 * GET  /model    current version, newest published, lag
 * GET  /health   200 when a model is loaded and the subscriber runs, else 503 with the reason
 * GET  /metrics  Prometheus text
 * </pre>
 * A malformed request is answered 400 with the reason and counted; it never stops the server.
 */
public final class HttpApi implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    static {
        // Without TCP_NODELAY a small response waits for the client's delayed ACK (Nagle): ~40 ms per request.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    private final ModelSubscriber subscriber;
    private final int maxBatch;
    private final HttpServer server;
    private final ExecutorService executor;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong badRequests = new AtomicLong();
    private final AtomicLong events = new AtomicLong();
    private final AtomicLong refusedEvents = new AtomicLong();
    private final AtomicLong predictNanos = new AtomicLong();

    public HttpApi(ModelSubscriber subscriber, String host, int port, int maxBatch, int threads) throws IOException {
        this.subscriber = subscriber;
        this.maxBatch = maxBatch;
        this.server = HttpServer.create(new InetSocketAddress(host, port), 128);
        this.executor = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "freshet-serving-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/predict", this::predict);
        server.createContext("/model", ex -> handle(ex, "GET", () -> model(ex)));
        server.createContext("/health", this::health);
        server.createContext("/metrics", ex -> handle(ex, "GET", () -> text(ex, 200, "text/plain; version=0.0.4", metrics())));
        server.start();
        LOG.info("serving HTTP API on http://{}:{}", host, port());
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private interface Body {
        void run() throws IOException;
    }

    private void handle(HttpExchange ex, String method, Body body) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals(method)) {
                text(ex, 405, "text/plain", ex.getRequestURI().getPath() + " takes " + method + ", not " + ex.getRequestMethod() + "\n");
                return;
            }
            body.run();
        }
    }

    private void predict(HttpExchange ex) throws IOException {
        handle(ex, "POST", () -> {
            requests.incrementAndGet();
            ServingModel current = subscriber.current();
            if (current == null) {
                text(ex, 503, "text/plain", "no model version loaded yet\n");
                return;
            }
            List<ClickEvent> batch;
            try (InputStream in = ex.getRequestBody()) {
                JsonNode root = JSON.readTree(in);
                JsonNode list = root != null && root.isObject() ? root.get("events") : root;
                if (list == null || !list.isArray()) throw new IllegalArgumentException("body must be {\"events\": [...]} or a JSON array of events");
                if (list.size() > maxBatch) {
                    badRequests.incrementAndGet();
                    text(ex, 413, "text/plain", list.size() + " events in one request; serving.max-batch is " + maxBatch + "\n");
                    return;
                }
                JsonEvents parser = new JsonEvents(current.layout());
                batch = new ArrayList<>(list.size());
                for (int i = 0; i < list.size(); i++) batch.add(parser.parse(list.get(i), i));
            } catch (IOException | IllegalArgumentException e) {
                badRequests.incrementAndGet();
                text(ex, 400, "text/plain", "bad request: " + e.getMessage() + "\n");
                return;
            }
            long t0 = System.nanoTime();
            ServingModel.Prediction p = subscriber.predict(batch);
            predictNanos.addAndGet(System.nanoTime() - t0);
            events.addAndGet(batch.size());
            ObjectNode out = JSON.createObjectNode();
            out.put("model", subscriber.config().modelName());
            out.put("version", p.version());
            ArrayNode probs = out.putArray("probabilities");
            ArrayNode errors = out.putArray("errors");
            for (int i = 0; i < p.probabilities().length; i++) {
                if (p.errors()[i] == null) {
                    probs.add(p.probabilities()[i]);
                } else {
                    probs.addNull();
                    refusedEvents.incrementAndGet();
                    errors.addObject().put("index", i).put("reason", p.errors()[i]);
                }
            }
            json(ex, 200, out);
        });
    }

    private void model(HttpExchange ex) throws IOException {
        ObjectNode out = JSON.createObjectNode();
        ServingModel m = subscriber.current();
        out.put("model", subscriber.config().modelName());
        out.put("version", m == null ? -1 : m.version());
        out.put("newestPublished", subscriber.newestSeenVersion());
        out.put("lagVersions", Math.max(0, subscriber.newestSeenVersion() - (m == null ? -1 : m.version())));
        out.put("lagSeconds", subscriber.lagMillis() / 1000.0);
        if (m != null) {
            out.put("createdAt", m.createdAt());
            ObjectNode metrics = out.putObject("metrics");
            for (Map.Entry<String, Double> e : m.metrics().entrySet()) metrics.put(e.getKey(), e.getValue());
        }
        out.put("resyncs", subscriber.resyncs());
        json(ex, 200, out);
    }

    private void health(HttpExchange ex) throws IOException {
        try (ex) {
            if (subscriber.current() == null) {
                text(ex, 503, "text/plain", "no model version loaded yet\n");
            } else if (!subscriber.running()) {
                text(ex, 503, "text/plain", "the model subscriber stopped: " + subscriber.lastError() + "\n");
            } else {
                text(ex, 200, "text/plain", "ok version " + subscriber.currentVersion() + "\n");
            }
        }
    }

    private String metrics() {
        StringBuilder sb = new StringBuilder(subscriber.prometheus());
        String l = "{model=\"" + subscriber.config().modelName() + "\"}";
        sb.append("# TYPE freshet_serving_requests_total counter\nfreshet_serving_requests_total").append(l).append(' ').append(requests.get()).append('\n');
        sb.append("# TYPE freshet_serving_bad_requests_total counter\nfreshet_serving_bad_requests_total").append(l).append(' ').append(badRequests.get()).append('\n');
        sb.append("# TYPE freshet_serving_events_total counter\nfreshet_serving_events_total").append(l).append(' ').append(events.get()).append('\n');
        sb.append("# TYPE freshet_serving_refused_events_total counter\nfreshet_serving_refused_events_total").append(l).append(' ').append(refusedEvents.get()).append('\n');
        sb.append("# TYPE freshet_serving_predict_seconds_total counter\nfreshet_serving_predict_seconds_total").append(l).append(' ').append(predictNanos.get() / 1e9).append('\n');
        return sb.toString();
    }

    private static void json(HttpExchange ex, int status, JsonNode body) throws IOException {
        send(ex, status, "application/json", JSON.writeValueAsBytes(body));
    }

    private static void text(HttpExchange ex, int status, String type, String body) throws IOException {
        send(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdown();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
