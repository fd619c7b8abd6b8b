package dev.tandem.scheduler.http;

import dev.tandem.scheduler.engine.ColocatedEngine;
import org.junit.jupiter.api.Test;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.tandem.scheduler.http.ApiFixtures.GREEDY_TOKENS;
import static dev.tandem.scheduler.http.ApiFixtures.get;
import static dev.tandem.scheduler.http.ApiFixtures.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * /metrics after known traffic, over HTTP: vLLM's metric names with the model's name, the counters
 * count it, the histograms saw every token, and a scraper that asks for OpenMetrics gets it.
 */
class MetricsEndpointTest {
    private static final String MODEL = "dbrx-tiny";

    @Test
    void shouldCountRequestsTokensAndLatenciesAsVllmNamesThem() {
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
            String model = "model_name=\"" + MODEL + "\"";
            assertEquals(completions, value(text, "tandem_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"));
            assertEquals(1, value(text, "tandem_http_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"));
            assertEquals(1, value(text, "tandem_http_requests_total{endpoint=\"other\",status=\"404\"}"));
            assertEquals(promptTokens, value(text, "vllm:prompt_tokens_total{" + model + "}"));
            assertEquals(tokens, value(text, "vllm:generation_tokens_total{" + model + "}"));
            assertEquals(completions, value(text, "vllm:request_success_total{finished_reason=\"length\"," + model + "}"));
            assertEquals(completions, value(text, "vllm:time_to_first_token_seconds_count{" + model + "}"));
            assertEquals(completions, value(text, "vllm:time_to_first_token_seconds_bucket{" + model + ",le=\"+Inf\"}"));
            assertEquals(tokens - completions, value(text, "vllm:inter_token_latency_seconds_count{" + model + "}"));
            assertEquals(completions, value(text, "vllm:e2e_request_latency_seconds_count{" + model + "}"));
            assertTrue(value(text, "vllm:e2e_request_latency_seconds_sum{" + model + "}") > 0);
            assertEquals(completions, value(text, "vllm:request_prefill_time_seconds_count{" + model + "}"));
            assertEquals(completions, value(text, "vllm:request_queue_time_seconds_count{" + model + "}"));
            double waitedAndPrefilled = value(text, "vllm:request_queue_time_seconds_sum{" + model + "}")
                    + value(text, "vllm:request_prefill_time_seconds_sum{" + model + "}");
            assertEquals(value(text, "vllm:time_to_first_token_seconds_sum{" + model + "}"), waitedAndPrefilled, 1e-6,
                    "queue and prefill time add up to the time to first token");
            assertEquals(completions, value(text, "vllm:request_decode_time_seconds_count{" + model + "}"));
            assertEquals(0, value(text, "tandem_queue_depth{" + model + ",pool=\"colocated\"}"));
            assertEquals(0, value(text, "vllm:num_requests_waiting{" + model + "}"));
            assertEquals(0, value(text, "vllm:num_requests_running{" + model + "}"));
            assertEquals(0, value(text, "vllm:num_preemptions_total{" + model + "}"));
            double kv = value(text, "vllm:kv_cache_usage_perc{" + model + "}");
            assertTrue(kv >= 0 && kv <= 1, "KV usage " + kv);
            assertTrue(value(text, "jvm_memory_used_bytes{area=\"heap\"}") > 0, "JVM metrics");
            assertTrue(text.contains("\nprocess_cpu_seconds_total "), "process metrics");
            assertTrue(text.contains("# TYPE vllm:inter_token_latency_seconds histogram\n"));
            assertFalse(text.contains("tokens_per_second"), "no rate gauge: users take rate() of the counter");

            // OpenMetrics for a scraper that asks for it: counters named without _total, one family each, # EOF
            ApiFixtures.Reply open = ApiFixtures.send(client, HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                    .header("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8").GET().build());
            assertEquals(200, open.status());
            assertTrue(open.response().headers().firstValue("Content-Type").orElseThrow()
                    .startsWith("application/openmetrics-text"), open.response().headers().toString());
            assertTrue(open.body().endsWith("# EOF\n"), "OpenMetrics ends with # EOF");
            assertTrue(open.body().contains("# TYPE vllm:prompt_tokens counter\n"), "a counter family without _total");
            assertEquals(promptTokens, value(open.body(), "vllm:prompt_tokens_total{" + model + "}"));
            java.util.Set<String> families = new java.util.HashSet<>();
            for (String line : open.body().split("\n")) {
                if (line.startsWith("# TYPE ")) {
                    assertTrue(families.add(line.split(" ")[2]), "family declared twice: " + line);
                }
            }
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
