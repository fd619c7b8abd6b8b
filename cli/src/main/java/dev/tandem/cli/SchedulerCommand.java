package dev.tandem.cli;

import dev.tandem.core.cluster.ClusterToken;
import dev.tandem.core.config.ModelConfig;
import dev.tandem.core.config.ModelConfigLoader;
import dev.tandem.scheduler.cluster.ClusterEngine;
import dev.tandem.scheduler.cluster.NodeLink;
import dev.tandem.scheduler.cluster.SchedulerConfig;
import dev.tandem.scheduler.engine.ServedModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tandem scheduler}: the HTTP API and Splitwise routing in front of prompt and token
 * machines started elsewhere (each with {@code --listen}); it connects to every one of them.
 */
@Command(name = "scheduler", mixinStandardHelpOptions = true,
        description = "Serve the OpenAI-compatible HTTP API and route requests over prompt machines (tandem prompt-node "
                + "--listen) and token machines (tandem attention-node --listen --kv-stream) named in a config file.")
final class SchedulerCommand implements Callable<Integer> {
    @Mixin
    HttpServing http;

    @Option(names = "--config", required = true, description = "Scheduler config file (properties; see the README).")
    Path config;

    @Option(names = "--cluster-token-file", description = "The cluster's shared secret (default: $" + ClusterToken.ENV
            + "), to answer the nodes' challenges.")
    Path clusterTokenFile;

    @Override
    public Integer call() throws Exception {
        SchedulerConfig c = SchedulerConfig.load(config);
        ModelConfig model = ModelConfigLoader.load(c.model());
        var codec = http.textCodec(c.model());
        String name = http.servedModelName != null ? http.servedModelName : c.name();
        ClusterToken clusterToken = ClusterToken.load(clusterTokenFile);
        String fingerprint = dev.tandem.transport.control.ModelFingerprint.of(c.model());
        List<NodeLink> prompt = new ArrayList<>();
        List<NodeLink> token = new ArrayList<>();
        try {
            for (int i = 0; i < c.promptNodes().size(); i++) {
                prompt.add(NodeLink.connect("prompt machine " + i, c.promptNodes().get(i), c.connectTimeoutMs(),
                        clusterToken, fingerprint).withHeartbeats());
            }
            for (int i = 0; i < c.tokenNodes().size(); i++) {
                token.add(NodeLink.connect("token machine " + i, c.tokenNodes().get(i), c.connectTimeoutMs(),
                        clusterToken, fingerprint).withHeartbeats());
            }
        } catch (RuntimeException e) {
            prompt.forEach(NodeLink::close);
            token.forEach(NodeLink::close);
            throw e;
        }
        long[] promptKv = new long[prompt.size()];
        long[] tokenKv = new long[token.size()];
        Arrays.fill(promptKv, c.promptKvTokens());
        Arrays.fill(tokenKv, c.tokenKvTokens());
        ClusterEngine engine = new ClusterEngine(new ServedModel(name, model.maxPositions(), model.vocabSize(),
                model.eosTokenIds()), prompt, promptKv, token, tokenKv, c.mixedThresholdTokens(),
                http.maxQueued);
        http.run(engine, engine, codec, prompt.size() + " prompt machines, " + token.size() + " token machines");
        return 0;
    }
}
