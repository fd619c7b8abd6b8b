package dev.tandem.scheduler.cluster;

import dev.tandem.core.TandemException;
import dev.tandem.core.cluster.ConfigFields;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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
        ConfigFields f = ConfigFields.read(file, "scheduler config");
        String modelValue = f.required("model");
        Path base = file.toAbsolutePath().getParent();
        Path model = base == null ? Path.of(modelValue) : base.resolve(modelValue);
        List<String> prompt = addresses(f, "prompt");
        List<String> token = addresses(f, "token");
        if (prompt.isEmpty() && token.isEmpty()) {
            throw new TandemException(f.where() + ": no machines: set prompt.nodes and/or token.nodes");
        }
        return new SchedulerConfig(model, f.get("name", model.getFileName().toString()), prompt, token,
                f.intIn("prompt.kv_tokens", 1, Integer.MAX_VALUE, 8192), f.intIn("token.kv_tokens", 1, Integer.MAX_VALUE, 8192),
                f.intIn("mixed_threshold_tokens", 0, Integer.MAX_VALUE, 4096),
                f.intIn("connect_timeout_ms", 1, Integer.MAX_VALUE, 120_000));
    }

    private static List<String> addresses(ConfigFields f, String role) {
        int count = f.intIn(role + ".nodes", 0, 4096, 0);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String key = role + "." + i + ".address";
            String address = f.required(key);
            if (address.lastIndexOf(':') < 1) {
                throw new TandemException(f.where() + ": '" + key + "' must be host:port, got " + address);
            }
            out.add(address);
        }
        return out;
    }
}
