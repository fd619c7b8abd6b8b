package dev.tandem.bench.serve;

import dev.tandem.core.TandemException;

import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * {@code tandem bench serve}: replays a trace open-loop against an OpenAI-compatible server at one or more rates,
 * after measuring (or loading) the unloaded baseline that slowdowns are relative to.
 */
public final class ServeBenchmark {
    /** Extra output tokens a baseline request gets at least, so that every one of them measures TBT. */
    private static final int BASELINE_MIN_OUTPUT = 8;
    private static final int BASELINE_INDEX_BASE = 1_000_000; // prompts unrelated to the replay's

    /**
     * @param rates            requests/s, one replay each; NaN replays at the trace's own mean rate
     * @param durationSeconds  s of arrivals per rate
     * @param offsetSeconds    s into the trace where the slice starts
     * @param model            null: the server's first model
     * @param vocabSize        0: the server's {@code vocab_size}
     * @param maxPrompt        0: no clip
     * @param maxOutput        0: no clip
     * @param baselineIn       null: measure the baseline
     * @param baselineOut      null: don't save it
     * @param drainSeconds     s to wait for outstanding requests after the last send, before abandoning them
     * @param apiKey           sent as {@code Authorization: Bearer} on every request; null: none
     * @param ignoreEos        ask for vLLM's {@code ignore_eos}, so outputs have their planned lengths
     * @param maxConcurrency   at most this many requests in flight (later ones wait their turn); 0: no cap
     * @param numPrompts       at most this many requests a rate; 0: all the plan has
     * @param goodput          vLLM's goodput bounds in ms by "ttft", "tpot", "e2el"; empty for none
     */
    public record Settings(URI baseUrl, String trace, double[] rates, double durationSeconds, double offsetSeconds,
                           String model, int vocabSize, int minId, long seed, boolean scaleToContext, int maxPrompt,
                           int maxOutput, Path baselineIn, Path baselineOut, int baselineRequests, double drainSeconds,
                           String apiKey, boolean ignoreEos, int maxConcurrency, int numPrompts,
                           java.util.Map<String, Double> goodput, boolean chat) {
    }

    private ServeBenchmark() {
    }

    /** {@code http://host:port}, with or without a trailing {@code /} or {@code /v1}, as the base for {@code v1/…}. */
    public static URI baseUrl(String url) {
        String base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        base = base.endsWith("/v1") ? base.substring(0, base.length() - 3) : base;
        try {
            URI uri = URI.create(base + "/");
            if (uri.getScheme() == null || uri.getHost() == null) {
                throw new IllegalArgumentException("--url " + url + ": expected http://host:port");
            }
            return uri;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--url " + url + ": expected http://host:port", e);
        }
    }

    /** @param log progress and notes (stderr); null for none */
    public static ServeReport run(Settings settings, PrintStream log) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        try {
            ModelInfo info = ModelInfo.fetch(http, settings.baseUrl(), settings.apiKey());
            int vocab = settings.vocabSize() > 0 ? settings.vocabSize() : info.vocabSize();
            if (vocab <= 0) {
                throw new TandemException(settings.baseUrl() + "v1/models: data[0] has no vocab_size; give --vocab");
            }
            if (settings.scaleToContext() && info.maxModelLen() <= 0) {
                throw new TandemException(settings.baseUrl() + "v1/models: data[0] has no max_model_len, which"
                        + " --scale-to-context needs; use --max-prompt/--max-output instead");
            }
            String model = settings.model() != null ? settings.model() : info.id();
            LengthLimits limits = new LengthLimits(info.maxModelLen(), settings.maxPrompt(), settings.maxOutput(),
                    settings.scaleToContext());
            Trace trace = Trace.load(settings.trace());
            List<List<PlannedRequest>> plans = new ArrayList<>();
            for (double rate : settings.rates()) {
                List<PlannedRequest> plan = ReplayPlan.plan(trace, rate, settings.durationSeconds(),
                        settings.offsetSeconds(), limits);
                plans.add(settings.numPrompts() > 0 && plan.size() > settings.numPrompts()
                        ? plan.subList(0, settings.numPrompts()) : plan);
            }
            warnAboutContext(plans.getFirst(), limits, log);
            StreamingClient client = new StreamingClient(http, settings.baseUrl(), model,
                    new PromptFactory(settings.seed(), settings.minId(), vocab), settings.apiKey(), settings.ignoreEos(),
                    settings.chat());
            UnloadedBaseline baseline = settings.baselineIn() != null ? UnloadedBaseline.load(settings.baselineIn())
                    : measureBaseline(client, baselineSample(trace, settings.durationSeconds(), settings.offsetSeconds(),
                    limits, settings.baselineRequests()), log);
            if (settings.baselineOut() != null) {
                settings.baselineOut().toAbsolutePath().getParent().toFile().mkdirs();
                baseline.save(settings.baselineOut());
            }
            note(log, String.format(Locale.ROOT, "unloaded baseline: TTFT = %.2f ms %+.4f ms/token × prompt, TBT = %.2f ms",
                    baseline.ttftInterceptMs(), baseline.ttftPerTokenMs(), baseline.tbtMs()));
            Replayer replayer = new Replayer(client, settings.drainSeconds(), settings.maxConcurrency());
            List<RateReport> reports = new ArrayList<>();
            for (int i = 0; i < plans.size(); i++) {
                double rate = Double.isNaN(settings.rates()[i]) ? trace.meanRate() : settings.rates()[i];
                String label = "rate " + ServeReport.rate(rate) + "/s";
                List<RequestOutcome> outcomes = replayer.replay(plans.get(i), new ProgressBar(log, label));
                RateReport report = RateReport.of(rate, settings.durationSeconds(), outcomes, baseline);
                note(log, String.format(Locale.ROOT, "%s: %d/%d completed, %.2f req/s, %.1f output tok/s, SLOs %s",
                        label, report.completed(), report.requests(), report.requestsPerSecond(),
                        report.outputTokensPerSecond(), report.sloPass() ? "met" : "missed"));
                reports.add(report);
            }
            return new ServeReport(settings.baseUrl().toString(), trace.name(), model, info.maxModelLen(), vocab,
                    settings.durationSeconds(), settings.offsetSeconds(), limits, baseline, settings.goodput(), reports);
        } finally {
            http.shutdownNow(); // close() would wait for streams abandoned at a deadline
        }
    }

    /**
     * Sends {@code count} requests of the plan, spread evenly over its prompt lengths, one at a time after one
     * unmeasured warm-up, and fits the baseline to them.
     */
    static UnloadedBaseline measureBaseline(StreamingClient client, List<PlannedRequest> sample, PrintStream log) {
        int n = sample.size();
        ProgressBar progress = new ProgressBar(log, "baseline");
        client.send(new PlannedRequest(BASELINE_INDEX_BASE + n, 0, sample.getFirst().promptTokens(),
                sample.getFirst().outputTokens()), System.nanoTime()); // warm-up: connections, the server's JIT
        List<RequestOutcome> outcomes = new ArrayList<>();
        int errors = 0;
        for (PlannedRequest r : sample) {
            progress.update(outcomes.size(), n, outcomes.size(), errors, false);
            RequestOutcome outcome = client.send(r, System.nanoTime());
            errors += outcome.ok() ? 0 : 1;
            outcomes.add(outcome);
        }
        progress.update(n, n, n, errors, true);
        progress.finish();
        return UnloadedBaseline.fit(outcomes);
    }

    /**
     * The unloaded baseline's requests, drawn from the slice replayed at the trace's own rate: the same for
     * every rate of a run, and for every rate {@code tandem plan} tries, so that one baseline judges them all
     * (drawn from each rate's own plan, the extremes moved with the rate, and with them the fit).
     */
    public static List<PlannedRequest> baselineSample(Trace trace, double durationSeconds, double offsetSeconds,
                                                      LengthLimits limits, int count) {
        double own = trace.meanRate();
        return baselineSample(ReplayPlan.plan(trace, Double.isFinite(own) && own > 0 ? own : 1, durationSeconds,
                offsetSeconds, limits), limits, count);
    }

    /**
     * The unloaded baseline's requests: {@code count} of the plan, spread evenly over its prompt lengths,
     * each with enough output for a TBT ({@code tandem simulate} runs the same sample alone).
     */
    public static List<PlannedRequest> baselineSample(List<PlannedRequest> plan, LengthLimits limits, int count) {
        List<PlannedRequest> byPrompt = plan.stream().sorted(Comparator.comparingInt(PlannedRequest::promptTokens)).toList();
        int n = Math.max(1, count);
        List<PlannedRequest> sample = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            PlannedRequest r = byPrompt.get(n == 1 ? 0 : (int) Math.round(j * (byPrompt.size() - 1.0) / (n - 1)));
            int room = limits.contextLength() > 0 ? limits.contextLength() - r.promptTokens() : BASELINE_MIN_OUTPUT;
            int output = Math.max(r.outputTokens(), Math.min(BASELINE_MIN_OUTPUT, room));
            if (limits.maxOutput() > 0) {
                output = Math.min(output, limits.maxOutput());
            }
            sample.add(new PlannedRequest(BASELINE_INDEX_BASE + j, 0, r.promptTokens(), Math.max(1, output)));
        }
        return sample;
    }

    private static void warnAboutContext(List<PlannedRequest> plan, LengthLimits limits, PrintStream log) {
        long over = plan.stream().filter(r -> limits.exceedsContext(r.promptTokens(), r.outputTokens())).count();
        if (over > 0) {
            note(log, over + " of " + plan.size() + " requests exceed max_model_len " + limits.contextLength()
                    + " and will likely be refused; add --scale-to-context or --max-prompt/--max-output");
        }
    }

    private static void note(PrintStream log, String message) {
        if (log != null) {
            log.println("tandem: " + message);
        }
    }
}
