package dev.tandem.scheduler.cluster;

import dev.tandem.core.TandemException;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * What {@code tandem scheduler} serves and where its machines listen, read from a properties file:
 * <pre>
 * model = /models/mixtral-8x7b        # config.json (context, vocabulary) and tokenizer.json
 * name = mixtral-8x7b                 # the API's model id (default: the directory's name)
 * prompt.nodes = 2                    # prompt machines: tandem prompt-node … --listen HOST:PORT
 * prompt.0.address = 10.0.0.1:7001
 * prompt.1.address = 10.0.0.2:7001
 * token.nodes = 2                     # token machines: attention nodes started with --listen and --kv-stream
 * token.0.address = 10.0.0.3:7002
 * token.1.address = 10.0.0.4:7002
 * prompt.kv_tokens = 8192             # KV positions per prompt machine
 * token.kv_tokens = 8192              # KV positions per token machine
 * mixed_threshold_tokens = 4096       # pending prompt tokens before machines are lent to the mixed pool
 * connect_timeout_ms = 120000         # how long to wait for every machine to listen
 * </pre>
 * Token machine t of the file is the prompt nodes' KV destination t.
 */
public record SchedulerConfig(Path model, String name, List<String> promptNodes, List<String> tokenNodes,
                              int promptKvTokens, int tokenKvTokens, long mixedThresholdTokens,
                              long connectTimeoutMs) {
    public SchedulerConfig {
        promptNodes = List.copyOf(promptNodes);
        tokenNodes = List.copyOf(tokenNodes);
    }

    public static SchedulerConfig load(Path file) {
        Properties p = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            p.load(reader);
        } catch (IOException e) {
            throw new TandemException(file + ": cannot read scheduler config: " + e.getMessage(), e);
        }
        String where = file.toString();
        String modelValue = p.getProperty("model");
        if (modelValue == null || modelValue.isBlank()) {
            throw new TandemException(where + ": 'model' is missing");
        }
        Path base = file.toAbsolutePath().getParent();
        Path model = base == null ? Path.of(modelValue.trim()) : base.resolve(modelValue.trim());
        List<String> prompt = addresses(p, where, "prompt");
        List<String> token = addresses(p, where, "token");
        if (prompt.isEmpty() && token.isEmpty()) {
            throw new TandemException(where + ": no machines: set prompt.nodes and/or token.nodes");
        }
        return new SchedulerConfig(model, p.getProperty("name", model.getFileName().toString()).trim(), prompt, token,
                (int) number(p, where, "prompt.kv_tokens", 8192), (int) number(p, where, "token.kv_tokens", 8192),
                number(p, where, "mixed_threshold_tokens", 4096),
                number(p, where, "connect_timeout_ms", 120_000));
    }

    private static List<String> addresses(Properties p, String where, String role) {
        int count = (int) number(p, where, role + ".nodes", 0);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String key = role + "." + i + ".address";
            String address = p.getProperty(key);
            if (address == null || address.lastIndexOf(':') < 1) {
                throw new TandemException(where + ": '" + key + "' must be host:port, got " + address);
            }
            out.add(address.trim());
        }
        return out;
    }

    private static long number(Properties p, String where, String key, long fallback) {
        String value = p.getProperty(key);
        if (value == null) {
            return fallback;
        }
        try {
            long n = Long.parseLong(value.trim());
            if (n < 0 || n > Integer.MAX_VALUE) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new TandemException(where + ": '" + key + "' must be a number in [0, " + Integer.MAX_VALUE
                    + "], got '" + value + "'");
        }
    }
}
