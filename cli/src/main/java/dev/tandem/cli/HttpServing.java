package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.core.tokenizer.Tokenizer;
import dev.tandem.scheduler.engine.CompletionEngine;
import dev.tandem.scheduler.http.HttpApiContext;
import dev.tandem.scheduler.http.HttpApiServer;
import dev.tandem.scheduler.http.TextCodec;
import dev.tandem.scheduler.http.TokenizerTextCodec;
import dev.tandem.scheduler.metrics.ApiMetrics;
import dev.tandem.scheduler.metrics.StatsLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The HTTP side shared by the commands that serve ({@code serve}, {@code local} with pools,
 * {@code scheduler}): where to listen, the tokenizer, and running the API in front of an engine
 * until SIGINT/SIGTERM (the shutdown hook closes the server, then the engine).
 */
final class HttpServing {
    private static final long CLOSE_WAIT_S = 60;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Port to listen on; 0 picks a free one (default ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--port-file", description = "Write the bound port to this file once listening (for scripts).")
    Path portFile;

    @Option(names = "--served-model-name", description = "The model id clients pass (default: the model directory's name).")
    String servedModelName;

    @Option(names = "--tokenizer", description = "Directory with tokenizer.json (default: the model directory if it has one).")
    Path tokenizer;

    @Option(names = "--chat-template", description = "A Jinja chat template file, instead of the tokenizer_config.json one.")
    Path chatTemplate;

    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' on every /v1 route (default: $TANDEM_API_KEY, else none).")
    String apiKey;

    @Option(names = "--allowed-origins", split = ",",
            description = "Browser origins that may call the API cross-origin, comma-separated (* for any); others get 403.")
    java.util.List<String> allowedOrigins = java.util.List.of();

    @Option(names = "--max-connections", defaultValue = "1024",
            description = "Connections open at once; beyond, a new one is answered 503 (default ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--request-timeout", defaultValue = "30",
            description = "Seconds a connection has to deliver a whole request, from opening and after each response;"
                    + " answering is not timed (default ${DEFAULT-VALUE}).")
    double requestTimeoutSeconds;

    @Option(names = "--seed", description = "Seed the sequence that requests without a seed draw theirs from, so that"
            + " a restarted server samples the same requests the same (vLLM's --seed; default: unpredictable).")
    Long seed;

    @Option(names = "--log-stats-interval", defaultValue = "0",
            description = "Seconds between stats lines on stderr (running, waiting, token rates); 0: none (default).")
    double logStatsIntervalSeconds;

    @Option(names = "--max-queued", defaultValue = "256", description = "Requests waiting for room before new ones get 429 (default ${DEFAULT-VALUE}).")
    int maxQueued;

    /** Counted down by the shutdown hook (or a test) to stop serving. */
    final CountDownLatch stop = new CountDownLatch(1);

    String name(Path model) {
        return servedModelName != null ? servedModelName : model.toAbsolutePath().normalize().getFileName().toString();
    }

    /** The text codec for the tokenizer of {@code model} (or --tokenizer), or null: prompts as token ids only. */
    TextCodec textCodec(Path model) {
        Path dir = tokenizer;
        if (dir != null && !Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            throw new TandemException("--tokenizer " + dir + " has no tokenizer.json");
        }
        if (dir == null && Files.isRegularFile(model.resolve("tokenizer.json"))) {
            dir = model;
        }
        if (dir == null) {
            System.err.println("tandem: no tokenizer.json; prompts must be token ids and responses carry token_ids only");
            return null;
        }
        Tokenizer loaded = Tokenizer.load(dir);
        TokenizerTextCodec codec;
        if (chatTemplate != null) {
            String template;
            try {
                template = Files.readString(chatTemplate);
            } catch (java.io.IOException e) {
                throw new TandemException("--chat-template " + chatTemplate + ": cannot read it: " + e.getMessage(), e);
            }
            codec = new TokenizerTextCodec(loaded, java.util.Optional.of(loaded.chatTemplate(template)));
        } else {
            codec = new TokenizerTextCodec(loaded);
        }
        System.err.println("tandem: tokenizer " + dir.resolve("tokenizer.json") + " (" + loaded.vocabSize() + " tokens, "
                + (chatTemplate != null ? "chat template " + chatTemplate + ")"
                : codec.hasChatTemplate() ? "chat template)" : "no chat template)"));
        return codec;
    }

    /** Serves {@code engine} until stopped, then closes the server and {@code owner} (the engine's owner). */
    void run(CompletionEngine engine, AutoCloseable owner, TextCodec codec, String what) throws Exception {
        HttpApiServer server;
        ApiMetrics metrics;
        try {
            String key = apiKey != null ? apiKey : System.getenv("TANDEM_API_KEY");
            if (key == null && !isLoopback(host)) {
                System.err.println("tandem: warning: listening on " + host + " without an API key: anyone who reaches it"
                        + " can use it (--api-key or TANDEM_API_KEY)");
            }
            HttpApiContext.Limits limits = new HttpApiContext.Limits(maxConnections, Math.round(requestTimeoutSeconds * 1000));
            HttpApiContext context = HttpApiContext.of(engine, codec, key == null || key.isEmpty() ? null : key)
                    .withLimits(limits).withAllowedOrigins(java.util.Set.copyOf(allowedOrigins));
            metrics = context.metrics();
            server = HttpApiServer.start(seed == null ? context : context.withSeed(seed), host, port);
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
        CountDownLatch closed = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.countDown();
            awaitQuietly(closed);
        }, "tandem-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        ScheduledExecutorService stats = null;
        try {
            writePortFile(server.port());
            System.err.println("tandem: listening on http://" + host + ":" + server.port() + " (model "
                    + engine.model().name() + ", " + what + ")");
            stats = startStats(engine, metrics);
            stop.await();
        } finally { // every step, even when one before it throws: a shutdown never hangs on a failed close
            try {
                if (stats != null) {
                    stats.shutdownNow();
                }
                server.close();
            } finally {
                try {
                    owner.close();
                } finally {
                    closed.countDown();
                    removeHook(hook);
                }
            }
        }
    }

    /** The stats line every --log-stats-interval seconds, or null when off. */
    private ScheduledExecutorService startStats(CompletionEngine engine, ApiMetrics metrics) {
        if (logStatsIntervalSeconds <= 0) {
            return null;
        }
        StatsLine line = new StatsLine(metrics, System.nanoTime());
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tandem-stats");
            t.setDaemon(true);
            return t;
        });
        long periodMs = Math.max(1, Math.round(logStatsIntervalSeconds * 1000));
        timer.scheduleAtFixedRate(() -> System.err.println("tandem: stats: "
                + line.next(engine.queueDepths(), engine.kvCacheUsage(), System.nanoTime())), periodMs, periodMs,
                TimeUnit.MILLISECONDS);
        return timer;
    }

    private void writePortFile(int boundPort) {
        if (portFile == null) {
            return;
        }
        try {
            Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
            Files.writeString(tmp, boundPort + System.lineSeparator());
            Files.move(tmp, portFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new TandemException("cannot write --port-file " + portFile + ": " + e.getMessage());
        }
    }

    private static boolean isLoopback(String host) {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(CLOSE_WAIT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stopped by a test rather than a signal: the hook must not outlive the command. */
    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the JVM is exiting: the hook is running and waits for us
        }
    }
}
