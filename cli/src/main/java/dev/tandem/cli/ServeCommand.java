package dev.tandem.cli;

import dev.tandem.core.TandemException;
import dev.tandem.scheduler.engine.ColocatedEngine;
import dev.tandem.scheduler.http.HttpApiContext;
import dev.tandem.scheduler.http.HttpApiServer;
import dev.tandem.scheduler.http.TextCodec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code tandem serve}: the OpenAI-compatible HTTP API in front of the colocated engine, until
 * SIGINT or SIGTERM (the shutdown hook closes the server, then the engine).
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a checkpoint over the OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
                + "/v1/models, /health, /metrics).")
final class ServeCommand implements java.util.concurrent.Callable<Integer> {
    private static final long CLOSE_WAIT_S = 60;

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory.")
    Path model;

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

    @Option(names = "--threads", description = "Kernel threads (default: all cores).")
    Integer threads;

    @Option(names = "--max-batch-tokens", defaultValue = "256", description = "Tokens per engine step (default ${DEFAULT-VALUE}).")
    int maxBatchTokens;

    @Option(names = "--kv-tokens", defaultValue = "16384", description = "KV cache positions over all requests (default ${DEFAULT-VALUE}).")
    int kvTokens;

    @Option(names = "--max-queued", defaultValue = "256", description = "Requests waiting for KV memory before new ones get 429 (default ${DEFAULT-VALUE}).")
    int maxQueued;

    /** Counted down by the shutdown hook (or a test) to stop serving. */
    final CountDownLatch stop = new CountDownLatch(1);

    @Override
    public Integer call() throws InterruptedException {
        String name = servedModelName != null ? servedModelName : model.toAbsolutePath().normalize().getFileName().toString();
        TextCodec codec = textCodec(tokenizerDir());
        int kernelThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        ColocatedEngine engine = new ColocatedEngine(model, name, kernelThreads, maxBatchTokens, kvTokens, maxQueued);
        HttpApiServer server;
        try {
            server = HttpApiServer.start(HttpApiContext.of(engine, codec), host, port);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
        CountDownLatch closed = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.countDown();
            awaitQuietly(closed);
        }, "tandem-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            writePortFile(server.port());
            System.err.println("tandem serve: listening on http://" + host + ":" + server.port() + " (model " + name + ")");
            stop.await();
        } finally {
            server.close();
            engine.close();
            closed.countDown();
            removeHook(hook);
        }
        return 0;
    }

    private Path tokenizerDir() {
        if (tokenizer != null) {
            if (!Files.isRegularFile(tokenizer.resolve("tokenizer.json"))) {
                throw new TandemException("--tokenizer " + tokenizer + " has no tokenizer.json");
            }
            return tokenizer;
        }
        return Files.isRegularFile(model.resolve("tokenizer.json")) ? model : null;
    }

    /**
     * The text codec for the tokenizer in {@code dir}, or null: prompts as token ids only. The
     * tokenizer module is not part of this build yet, so a tokenizer.json is reported, not read.
     */
    private static TextCodec textCodec(Path dir) {
        System.err.println(dir == null
                ? "tandem serve: no tokenizer.json; prompts must be token ids and responses carry token_ids only"
                : "tandem serve: this build cannot read " + dir.resolve("tokenizer.json")
                + " yet; prompts must be token ids and responses carry token_ids only");
        return null;
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
