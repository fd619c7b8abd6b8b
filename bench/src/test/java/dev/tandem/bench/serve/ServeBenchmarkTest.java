package dev.tandem.bench.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServeBenchmarkTest {
    @Test
    void shouldMeasureABaselineThenReplayEachRate(@TempDir Path dir) throws Exception {
        Path trace = dir.resolve("trace.csv");
        Files.writeString(trace, """
                TIMESTAMP,ContextTokens,GeneratedTokens
                0.0,10,3
                0.1,20,4
                0.3,100,5
                0.4,40,3
                """); // 100 + 5 exceeds the fake's max_model_len 64: scaled to 60 + 3
        try (FakeCompletionServer server = new FakeCompletionServer(40, 10, 1, p -> 200)) {
            ServeBenchmark.Settings settings = new ServeBenchmark.Settings(ServeBenchmark.baseUrl(
                    server.url().toString() + "v1"), trace.toString(), new double[] {4, 8}, 1, 0, null, 0, 100, 1,
                    true, 0, 0, null, dir.resolve("baseline.json"), 3, 10, "sk-test", true, 0, 0, java.util.Map.of(), false);
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            ServeReport report = ServeBenchmark.run(settings, new PrintStream(log, true, StandardCharsets.UTF_8));

            assertEquals(2, report.rates().size());
            assertEquals(4, report.rates().get(0).requests());
            assertEquals(8, report.rates().get(1).requests());
            assertEquals(12, report.rates().stream().mapToInt(RateReport::completed).sum());
            assertTrue(server.prompts.stream().allMatch(p -> p.length <= 60), "prompts scaled into the context");
            assertTrue(server.authorizations.size() > 12 && server.authorizations.stream()
                    .allMatch("Bearer sk-test"::equals), "every request carried the key: " + server.authorizations);
            assertEquals(10.0, report.baseline().tbtMs(), 5, "baseline TBT near the fake's 10 ms");
            for (RateReport r : report.rates()) { // the fake's latencies ignore load: median slowdowns near 1
                assertEquals(1, r.slowdownPercentiles("TTFT")[0], 0.5, report.markdown());
                assertEquals(1, r.slowdownPercentiles("E2E")[0], 0.5, report.markdown());
            }
            assertTrue(log.toString(StandardCharsets.UTF_8).contains("] 8/8 sent, 8 done, 0 errors"), log.toString());

            Path json = dir.resolve("serve.json");
            report.writeJson(json);
            JsonNode root = new ObjectMapper().readTree(json.toFile());
            assertEquals(8, root.at("/rates/1/requests").asInt());
            assertEquals(8, root.at("/rates/1/requests_detail").size());
            assertEquals(9, root.at("/rates/0/slo").size());
            assertEquals(report.rates().get(0).slo().get(0).pass(), root.at("/rates/0/slo/0/pass").asBoolean());
            assertEquals(2.0, root.at("/rates/0/slo/0/limit").asDouble());
            assertEquals(report.baseline(), UnloadedBaseline.load(dir.resolve("baseline.json")));
            JsonNode vllm = root.at("/rates/1/vllm");               // vllm bench serve's keys, from the same outcomes
            assertEquals(report.rates().get(1).completed(), vllm.get("completed").asInt());
            assertEquals(report.rates().get(1).requestsPerSecond(), vllm.get("request_throughput").asDouble(), 1e-9);
            assertEquals(10.0, vllm.get("median_itl_ms").asDouble(), 5, "the fake's 10 ms between tokens");
            assertEquals(10.0, vllm.get("mean_tpot_ms").asDouble(), 5);
            assertTrue(vllm.get("p99_ttft_ms").asDouble() >= vllm.get("median_ttft_ms").asDouble());
            assertTrue(vllm.get("request_goodput").isNull(), "no --goodput bounds");

            Path png = dir.resolve("serve.png");
            ServePlots.write(png, report);
            assertTrue(Files.size(png) > 1000);
        }
    }

    @Test
    void shouldReportTheHighestRateMeetingAllSlosEvenIfALowerOneMissed() {
        UnloadedBaseline baseline = new UnloadedBaseline(50, 0, 10, 50, List.of());
        ServeReport report = new ServeReport("u", "t", "m", 64, 1000, 5, 0, LengthLimits.NONE, baseline, java.util.Map.of(), List.of(
                RateReport.of(1, 1, served(10, 1.0), baseline),
                RateReport.of(2, 1, served(10, 3.0), baseline), // 3× everything: TBT and E2E miss
                RateReport.of(4, 1, served(10, 1.1), baseline),
                RateReport.of(8, 1, served(10, 2.0), baseline)));
        assertEquals(List.of(true, false, true, false), report.rates().stream().map(RateReport::sloPass).toList());
        assertEquals(4, report.bestRate());
        assertTrue(report.markdown().contains("Highest rate meeting all SLOs: 4 req/s"), report.markdown());
    }

    /** n requests of 3 tokens each at {@code slowdown} × the baseline (50 ms TTFT, 10 ms TBT). */
    private static List<RequestOutcome> served(int n, double slowdown) {
        List<RequestOutcome> outcomes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            outcomes.add(new RequestOutcome(new PlannedRequest(i, i * 0.1, 10, 3), i * 100.0, 200, null, null,
                    50 * slowdown, new double[] {10 * slowdown, 10 * slowdown}, 70 * slowdown, 3));
        }
        return outcomes;
    }

    @Test
    void shouldAcceptTheServerUrlInItsUsualForms() {
        assertEquals("http://h:8000/", ServeBenchmark.baseUrl("http://h:8000").toString());
        assertEquals("http://h:8000/", ServeBenchmark.baseUrl("http://h:8000/v1/").toString());
    }

    @Test
    void shouldDrawASingleRatesCdfsAndTimelines(@TempDir Path dir) throws IOException {
        List<RequestOutcome> outcomes = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            outcomes.add(new RequestOutcome(new PlannedRequest(i, i * 0.1, 10, 3), i * 100.0, 200, null, null, 50 + i,
                    new double[] {10, 11}, 80 + i, 3));
        }
        RateReport rate = RateReport.of(10, 5, outcomes, new UnloadedBaseline(50, 0, 10, 50, List.of()));
        ServeReport report = new ServeReport("u", "t", "m", 64, 1000, 5, 0, LengthLimits.NONE,
                new UnloadedBaseline(50, 0, 10, 50, List.of()), java.util.Map.of(), List.of(rate));
        Path png = dir.resolve("one.png");
        ServePlots.write(png, report);
        assertTrue(Files.size(png) > 1000);
        assertTrue(report.markdown().contains("| 10 | 50 | 50 | 0 |"), report.markdown());
    }
}
