package dev.freshet.platform.internal;

import dev.freshet.platform.MetricsRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The status page as a browser renders it: a real headless Chromium loads the page from a real
 * {@link StatusServer}, runs its script (which polls {@code /api/status}), and the resulting DOM must
 * show the values fed to the history and charts with one point per sample. Skips, saying why, where
 * no Chromium is installed ({@code .ci/run} installs the Debian package).
 */
class StatusPageChromiumTest {
    private final MetricsRegistry metrics = new MetricsRegistry();
    private final StatusHistory history = new StatusHistory(100);
    private StatusServer server;

    @BeforeEach
    void start() {
        // 12 samples of a pipeline warming up; AUC unknown (NaN) for the first two, as before the first batch.
        for (int i = 0; i < 12; i++) {
            history.add(new StatusSample(1_700_000_000_000L + i * 1000L, i + 1.0, 1000L * (i + 1), 990L * (i + 1), 980L * (i + 1), i,
                    1000 + i, 990 + i, 980 + i, i < 2 ? Double.NaN : 0.70 + i * 0.003, i < 2 ? Double.NaN : 0.52 - i * 0.001,
                    i < 3 ? -1 : i - 2, i < 3 ? Double.NaN : 0.40 + i * 0.01, i < 3 ? Double.NaN : 0.90 + i * 0.01));
        }
        metrics.gauge("freshet_model_version", "Served model version.", () -> 9);
        server = new StatusServer(0, metrics, history, "Freshet test pipeline");
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void endpointsServeJsonAndPrometheusText() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String json = http.send(HttpRequest.newBuilder(URI.create(server.url() + "api/status")).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(json.contains("\"modelVersion\":9"), json);
        assertTrue(json.contains("\"auc\":[null,null,0.706000,"), json);
        String prom = http.send(HttpRequest.newBuilder(URI.create(server.url() + "metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(prom.contains("# TYPE freshet_model_version gauge\nfreshet_model_version 9\n"), prom);
        assertEquals(404, http.send(HttpRequest.newBuilder(URI.create(server.url() + "nothing")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    @Test
    void headlessChromiumRendersTheLiveValuesAndCharts(@TempDir Path profile) throws Exception {
        Optional<String> chromium = findChromium();
        Assumptions.assumeTrue(chromium.isPresent(), "no chromium on PATH; skipping the browser test. Fix: apt-get install -y chromium (as .ci/run does)");
        List<String> cmd = new ArrayList<>(List.of(chromium.get(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile.resolve("profile"),
                // Lets the page's timers and its fetch of /api/status run before the DOM is dumped.
                "--virtual-time-budget=5000", "--dump-dom", server.url()));
        Process p = new ProcessBuilder(cmd).redirectError(profile.resolve("chromium.log").toFile()).start();
        byte[] dom;
        try (var in = p.getInputStream()) {
            dom = in.readAllBytes();
        }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not exit within 60 s");
        }
        String html = new String(dom, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "chromium failed: " + Files.readString(profile.resolve("chromium.log")));

        assertEquals("Freshet test pipeline", text(html, "title"));
        assertEquals("v9", text(html, "version"));
        assertEquals("0.7330", text(html, "auc"));
        assertEquals("0.5090", text(html, "logloss"));
        assertEquals("12,000", text(html, "produced"));
        assertEquals("11,760", text(html, "trained"));
        assertEquals("11", text(html, "dead"));
        assertEquals("0.51 s / 1.01 s", text(html, "freshness"));
        // Every sample is a point: 3 throughput series x 12, 10 AUC samples, 2 freshness series x 9.
        assertEquals("36", attribute(html, "throughput", "data-points"));
        assertEquals("10", attribute(html, "aucChart", "data-points"));
        assertEquals("18", attribute(html, "freshnessChart", "data-points"));
    }

    static Optional<String> findChromium() {
        for (String name : List.of("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")) {
            for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
                Path candidate = Path.of(dir, name);
                if (Files.isExecutable(candidate)) {
                    return Optional.of(candidate.toString());
                }
            }
        }
        return Optional.empty();
    }

    private static String text(String html, String id) {
        Matcher m = Pattern.compile("id=\"" + id + "\"[^>]*>([^<]*)<").matcher(html);
        assertTrue(m.find(), "no element #" + id + " in the rendered DOM:\n" + html);
        return m.group(1);
    }

    private static String attribute(String html, String id, String attr) {
        Matcher tag = Pattern.compile("<[^>]*id=\"" + id + "\"[^>]*>").matcher(html);
        assertTrue(tag.find(), "no element #" + id);
        Matcher a = Pattern.compile(attr + "=\"([^\"]*)\"").matcher(tag.group());
        assertTrue(a.find(), "#" + id + " has no " + attr + " (did the script run?): " + tag.group());
        return a.group(1);
    }
}
