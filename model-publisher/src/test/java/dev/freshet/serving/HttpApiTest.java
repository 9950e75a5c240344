package dev.freshet.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.freshet.kafka.junit.EmbeddedKafkaExtension;
import dev.freshet.schemas.ClickEvent;
import dev.freshet.serving.internal.HttpApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reference serving process's HTTP API over a real subscriber and broker. */
class HttpApiTest {
    @RegisterExtension
    static final EmbeddedKafkaExtension kafka = new EmbeddedKafkaExtension();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void predictModelHealthAndMetrics() throws Exception {
        try (PublishingHarness h = new PublishingHarness(kafka.broker(), dir, "http", 900_000, 0.02);
             ModelSubscriber s = new ModelSubscriber(h.servingConfig(h.source), Clock.systemUTC());
             HttpApi api = new HttpApi(s, "127.0.0.1", 0, 100, 2)) {
            HttpClient client = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + api.port();
            assertEquals(503, get(client, base + "/health").statusCode(), "no model yet");

            h.full(0.7);
            assertEquals(2, h.delta(0.7));
            PublishingHarness.await(() -> s.currentVersion() == 2, "version 2");

            List<ClickEvent> events = h.sample.subList(0, 3);
            StringBuilder body = new StringBuilder("{\"events\": [");
            for (int i = 0; i < events.size(); i++) {
                ClickEvent e = events.get(i);
                if (i > 0) body.append(',');
                body.append("{\"eventId\":\"").append(e.getEventId()).append("\",\"dense\":{");
                for (int d = 0; d < 3; d++) {
                    if (d > 0) body.append(',');
                    body.append("\"i").append(d + 1).append("\":").append(e.getDense().get(d));
                }
                body.append("},\"categorical\":{");
                for (int c = 0; c < 4; c++) {
                    if (c > 0) body.append(',');
                    String v = e.getCategorical().get(c);
                    body.append("\"c").append(c + 1).append("\":").append(v == null ? "null" : "\"" + v + "\"");
                }
                body.append("}}");
            }
            body.append("]}");
            HttpResponse<String> r = post(client, base + "/predict", body.toString());
            assertEquals(200, r.statusCode(), r.body());
            JsonNode out = JSON.readTree(r.body());
            assertEquals(2, out.get("version").asLong());
            float[] want = h.expected.get(2L);
            for (int i = 0; i < 3; i++) assertEquals(want[i], out.get("probabilities").get(i).floatValue(), 1e-5, "event " + i);
            assertEquals(want[1], s.predict(events.get(1)), 1e-5, "the library's single-event predict");

            HttpResponse<String> bad = post(client, base + "/predict", "{\"events\": [{\"dense\": {\"nope\": 1}}]}");
            assertEquals(400, bad.statusCode());
            assertTrue(bad.body().contains("nope"), bad.body());
            assertEquals(400, post(client, base + "/predict", "not json").statusCode());

            JsonNode model = JSON.readTree(get(client, base + "/model").body());
            assertEquals(2, model.get("version").asLong());
            assertEquals(0, model.get("lagVersions").asLong());
            assertEquals(200, get(client, base + "/health").statusCode());
            String metrics = get(client, base + "/metrics").body();
            assertTrue(metrics.contains("freshet_serving_version{model=\"http\"} 2"), metrics);
            assertTrue(metrics.contains("freshet_serving_bad_requests_total{model=\"http\"} 2"), metrics);
        }
    }

    private static HttpResponse<String> get(HttpClient c, String url) throws Exception {
        return c.send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> post(HttpClient c, String url, String body) throws Exception {
        return c.send(HttpRequest.newBuilder(URI.create(url)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
    }
}
