package dev.tandem.scheduler.http;

import dev.tandem.scheduler.engine.ColocatedEngine;
import org.junit.jupiter.api.Test;

import java.net.http.HttpClient;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.tandem.scheduler.http.ApiFixtures.GREEDY_TOKENS;
import static dev.tandem.scheduler.http.ApiFixtures.get;
import static dev.tandem.scheduler.http.ApiFixtures.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** /metrics after known traffic: the counters count it and the histograms saw every token. */
class MetricsEndpointTest {
    private static final String MODEL = "dbrx-tiny";

    @Test
    void shouldCountRequestsTokensAndLatenciesInPrometheusTextFormat() {
        List<ApiFixtures.Prompt> prompts = ApiFixtures.prompts(MODEL);
        try (ColocatedEngine engine = new ColocatedEngine(ApiFixtures.fixture(MODEL), MODEL, ApiFixtures.THREADS, 256,
                1024, 256);
             HttpApiServer server = HttpApiServer.start(HttpApiContext.of(engine, null), "127.0.0.1", 0);
             HttpClient client = ApiFixtures.client()) {
            int promptTokens = 0;
            for (int i = 0; i < prompts.size(); i++) {
                ApiFixtures.Prompt p = prompts.get(i);
                promptTokens += p.inputIds().length;
                assertEquals(200, post(client, server.port(), "/v1/completions", "{\"model\":\"" + MODEL
                        + "\",\"prompt\":[" + ApiFixtures.csv(p.inputIds()) + "],\"max_tokens\":" + GREEDY_TOKENS
                        + ",\"ignore_eos\":true,\"stream\":" + (i == 0) + "}").status());
            }
            assertEquals(400, post(client, server.port(), "/v1/completions", "{}").status());
            assertEquals(404, get(client, server.port(), "/nowhere").status());

            ApiFixtures.Reply reply = get(client, server.port(), "/metrics");
            assertEquals(200, reply.status());
            assertTrue(reply.response().headers().firstValue("Content-Type").orElseThrow()
                    .startsWith("text/plain; version=0.0.4"));
            String text = reply.body();
            int completions = prompts.size();
            int tokens = completions * GREEDY_TOKENS;
            assertEquals(completions, value(text, "tandem_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"));
            assertEquals(1, value(text, "tandem_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"));
            assertEquals(1, value(text, "tandem_requests_total{endpoint=\"other\",status=\"404\"}"));
            assertEquals(promptTokens, value(text, "tandem_prompt_tokens_total"));
            assertEquals(tokens, value(text, "tandem_generation_tokens_total"));
            assertEquals(completions, value(text, "tandem_time_to_first_token_seconds_count"));
            assertEquals(completions, value(text, "tandem_time_to_first_token_seconds_bucket{le=\"+Inf\"}"));
            assertEquals(tokens - completions, value(text, "tandem_time_between_tokens_seconds_count"));
            assertEquals(completions, value(text, "tandem_e2e_request_latency_seconds_count"));
            assertTrue(value(text, "tandem_e2e_request_latency_seconds_sum") > 0);
            assertEquals(0, value(text, "tandem_queue_depth{pool=\"colocated\"}"));
            assertEquals(0, value(text, "tandem_running_requests"));
            assertTrue(value(text, "tandem_generation_tokens_per_second") >= 0);
            assertTrue(text.contains("# TYPE tandem_time_between_tokens_seconds histogram\n"));
        }
    }

    private static double value(String exposition, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(exposition);
        if (!m.find()) {
            throw new AssertionError(series + " not in\n" + exposition);
        }
        return Double.parseDouble(m.group(1));
    }
}
