package dev.tandem.cli;

import dev.tandem.bench.serve.ServeBenchmark;
import dev.tandem.bench.serve.ServeComparePlot;
import dev.tandem.bench.serve.ServePlots;
import dev.tandem.bench.serve.ServeReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tandem bench serve}: open-loop replay of an Azure LLM inference trace against an OpenAI-compatible
 * server, Splitwise's SLO attainment per rate. The markdown report goes to stdout, progress to stderr.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Replay a request trace open-loop against a /v1/completions server at one or more rates and"
                + " report throughput, TTFT/TBT/E2E percentiles and Splitwise SLO attainment (slowdown against an"
                + " unloaded baseline); with --rates, the highest rate that meets all SLOs.")
final class BenchServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--url", description = "Server base URL, e.g. http://localhost:8000 (required unless --compare).")
    String url;

    @Option(names = "--trace", defaultValue = "conv",
            description = "code, conv (the bundled Azure 2023 traces) or a CSV file TIMESTAMP,ContextTokens,GeneratedTokens"
                    + " (default ${DEFAULT-VALUE}).")
    String trace;

    @Option(names = "--rate", description = "Requests/s, the trace's arrival pattern rescaled to it (default: the trace's own rate).")
    Double rate;

    @Option(names = "--rates", split = ",", description = "Sweep these rates (requests/s), comma-separated.")
    double[] rates;

    @Option(names = "--duration", defaultValue = "60", description = "Seconds of arrivals per rate (default ${DEFAULT-VALUE}).")
    double duration;

    @Option(names = "--offset", defaultValue = "0", description = "Seconds into the trace where the replay starts; it wraps"
            + " around the end (default ${DEFAULT-VALUE}).")
    double offset;

    @Option(names = "--api-key", description = "Send 'Authorization: Bearer KEY' with every request"
            + " (default: $OPENAI_API_KEY, as vLLM's benchmark, else none).")
    String apiKey;

    @Option(names = "--ignore-eos", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Send vLLM's ignore_eos so outputs have their planned lengths (--no-ignore-eos for a strict"
                    + " OpenAI server, which refuses the field; default: on).")
    boolean ignoreEos;

    @Option(names = "--endpoint", defaultValue = "completions", description = "completions (token-id prompts to"
            + " /v1/completions; default) or chat (a user message of random words, about a token each, to"
            + " /v1/chat/completions: for servers that take text only).")
    String endpoint;

    /** Whether --endpoint is chat; anything but completions or chat is refused. */
    private boolean endpoint() {
        if (!endpoint.equals("completions") && !endpoint.equals("chat")) {
            throw new IllegalArgumentException("--endpoint must be completions or chat, got '" + endpoint + "'");
        }
        return endpoint.equals("chat");
    }

    @Option(names = "--max-concurrency", defaultValue = "0", description = "At most this many requests in flight"
            + " (later arrivals wait for a slot, as vLLM's benchmark); 0: no cap.")
    int maxConcurrency;

    @Option(names = "--num-prompts", defaultValue = "0", description = "At most this many requests a rate; 0: all"
            + " that --duration gives.")
    int numPrompts;

    @Option(names = "--goodput", split = " ", description = "vLLM's goodput bounds, e.g. ttft:500 tpot:50 e2el:4000"
            + " (ms): request_goodput in --json counts the completed requests within all of them.")
    java.util.List<String> goodput;

    @Option(names = "--model", description = "Model name to request (default: the server's first).")
    String model;

    @Option(names = "--vocab", description = "Vocabulary size for the random prompt ids (default: /v1/models vocab_size).")
    int vocab;

    @Option(names = "--min-id", defaultValue = "100", description = "Smallest prompt token id, above the special tokens"
            + " (default ${DEFAULT-VALUE}).")
    int minId;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random prompts (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--scale-to-context", description = "Scale a request's prompt and output down together when they"
            + " exceed the model's max_model_len.")
    boolean scaleToContext;

    @Option(names = "--max-prompt", description = "Clip prompts to this many tokens.")
    int maxPrompt;

    @Option(names = "--max-output", description = "Clip outputs (max_tokens) to this many tokens.")
    int maxOutput;

    @Option(names = "--baseline", description = "Use this saved unloaded baseline instead of measuring one.")
    Path baseline;

    @Option(names = "--save-baseline", description = "Write the unloaded baseline to this JSON file.")
    Path saveBaseline;

    @Option(names = "--baseline-requests", defaultValue = "8", description = "Requests sent one at a time for the"
            + " unloaded baseline, spread over the prompt lengths (default ${DEFAULT-VALUE}).")
    int baselineRequests;

    @Option(names = "--drain", defaultValue = "300", description = "Seconds to wait for outstanding requests after the"
            + " last send; later ones count as timeouts (default ${DEFAULT-VALUE}).")
    double drain;

    @Option(names = "--json", description = "Write every number, and every request, to this JSON file.")
    Path json;

    @Option(names = "--markdown", description = "Also write the markdown report to this file.")
    Path markdown;

    @Option(names = "--plot", description = "Write a PNG: slowdown CDFs and latency over time, or with --rates SLO"
            + " attainment, throughput and P99 latency against rate.")
    Path plot;

    @Option(names = "--compare", split = ",", description = "Instead of replaying: draw --plot from these --json reports side by side (P90 slowdowns and throughput against rate).")
    List<Path> compare;

    @Override
    public Integer call() throws IOException {
        if (compare != null) {
            if (plot == null) {
                throw new IllegalArgumentException("--compare draws a plot: give --plot FILE.png");
            }
            ServeComparePlot.write(plot, compare);
            System.err.println("tandem: wrote " + plot);
            return 0;
        }
        if (url == null) {
            throw new IllegalArgumentException("--url is required (or --compare to plot saved reports)");
        }
        if (rate != null && rates != null) {
            throw new IllegalArgumentException("give --rate or --rates, not both");
        }
        double[] sweep = rates != null ? rates : new double[] {rate != null ? rate : Double.NaN};
        for (double r : sweep) {
            if (!Double.isNaN(r) && !(r > 0)) {
                throw new IllegalArgumentException("rates must be > 0 requests/s, got " + r);
            }
        }
        if (duration <= 0) {
            throw new IllegalArgumentException("--duration must be > 0 s");
        }
        if (maxConcurrency < 0 || numPrompts < 0) {
            throw new IllegalArgumentException("--max-concurrency and --num-prompts must be >= 0");
        }
        ServeBenchmark.Settings settings = new ServeBenchmark.Settings(ServeBenchmark.baseUrl(url), trace, sweep,
                duration, offset, model, vocab, minId, seed, scaleToContext, maxPrompt, maxOutput, baseline,
                saveBaseline, baselineRequests, drain, apiKey != null ? apiKey : System.getenv("OPENAI_API_KEY"),
                ignoreEos, maxConcurrency, numPrompts, goodputBounds(), endpoint());
        ServeReport report = ServeBenchmark.run(settings, System.err);
        String table = report.markdown();
        spec.commandLine().getOut().print(table);
        spec.commandLine().getOut().flush();
        if (markdown != null) {
            Files.writeString(markdown, table);
        }
        if (json != null) {
            report.writeJson(json);
        }
        if (plot != null) {
            writePlot(report);
        }
        return 0;
    }

    /** --goodput's KEY:MS pairs; keys ttft, tpot and e2el, as vLLM's benchmark takes them. */
    private java.util.Map<String, Double> goodputBounds() {
        java.util.Map<String, Double> bounds = new java.util.TreeMap<>();
        for (String pair : goodput == null ? java.util.List.<String>of() : goodput) {
            String[] kv = pair.split(":", 2);
            if (kv.length != 2 || !java.util.List.of("ttft", "tpot", "e2el").contains(kv[0])) {
                throw new IllegalArgumentException("--goodput takes ttft:MS, tpot:MS and e2el:MS, got '" + pair + "'");
            }
            try {
                bounds.put(kv[0], Double.parseDouble(kv[1]));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--goodput " + pair + ": not a number of ms");
            }
        }
        return bounds;
    }

    /** Java2D needs fontconfig and a font even headless; without them, say so and keep the other outputs. */
    private void writePlot(ServeReport report) {
        try {
            ServePlots.write(plot, report);
        } catch (RuntimeException | Error e) { // Java2D throws AWTError, InternalError or LinkageError without fonts
            System.err.println("tandem: cannot draw " + plot + ": Java2D failed (" + e + "); install fontconfig and a"
                    + " font (e.g. fonts-dejavu-core). The report" + (json != null ? " and " + json : "")
                    + (markdown != null ? " and " + markdown : "") + " were written.");
        }
    }
}
