package dev.freshet.platform.internal;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.freshet.platform.MetricsRegistry;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The demo's status web server, on loopback only: {@code /} the status page (plain HTML and JS, no
 * external resources), {@code /api/status} the history as JSON for its charts, {@code /metrics} every
 * component's metrics in Prometheus text format. One daemon thread serves it; close() is idempotent.
 */
public final class StatusServer implements AutoCloseable {
    private static final String PAGE = "status.html";

    private final HttpServer server;
    private final ExecutorService executor;
    private final byte[] page;
    private boolean closed;

    /** Binds 127.0.0.1:{@code port} (0 = any free port) and starts serving. */
    public StatusServer(int port, MetricsRegistry metrics, StatusHistory history, String title) {
        Objects.requireNonNull(metrics, "metrics");
        Objects.requireNonNull(history, "history");
        this.page = loadPage();
        try {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve the status page on 127.0.0.1:" + port + ": " + e.getMessage()
                    + ". Fix: choose another port with --set demo.status-port=PORT (0 picks a free one).", e);
        }
        executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "freshet-status-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/", ex -> {
            if (!ex.getRequestURI().getPath().equals("/")) {
                send(ex, 404, "text/plain; charset=utf-8", "not found\n".getBytes(StandardCharsets.UTF_8));
            } else {
                send(ex, 200, "text/html; charset=utf-8", page);
            }
        });
        server.createContext("/api/status", ex -> send(ex, 200, "application/json",
                history.toJson(title).getBytes(StandardCharsets.UTF_8)));
        server.createContext("/metrics", ex -> send(ex, 200, "text/plain; version=0.0.4; charset=utf-8",
                metrics.scrape().getBytes(StandardCharsets.UTF_8)));
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    public String url() {
        return "http://127.0.0.1:" + port() + "/";
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        try (ex) {
            ex.getResponseHeaders().set("Content-Type", type);
            ex.getResponseHeaders().set("Cache-Control", "no-store");
            ex.sendResponseHeaders(status, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    private static byte[] loadPage() {
        try (InputStream in = StatusServer.class.getResourceAsStream(PAGE)) {
            if (in == null) {
                throw new IllegalStateException("status page resource " + PAGE + " missing from the platform jar. Fix: rebuild with mvn install.");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        server.stop(0);
        executor.shutdownNow();
    }
}
