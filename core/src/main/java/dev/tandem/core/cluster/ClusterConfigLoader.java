package dev.tandem.core.cluster;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.BackendSpec;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads and writes the cluster file, Java properties:
 * <pre>
 * model = /models/mixtral-8x7b
 * transport = aeron-ipc              # aeron-ipc | aeron-udp | tcp
 * aeron.dir = /dev/shm/tandem-7      # aeron-ipc: the shared media driver
 * micro_batches = auto               # or 1..4
 * attention.nodes = 2
 * attention.0.endpoint = ipc         # host:port for aeron-udp
 * expert.nodes = 2
 * expert.0.experts = 0-3             # ranges and lists: 0-3,6
 * expert.1.experts = 4-7
 * expert.1.endpoint = ipc
 * max_batch_tokens = 256             # per micro-batch
 * kv_tokens = 8192                   # KV cache per attention node
 * threads = 1                        # kernel threads per node
 * attention.threads = 4              # … per attention node, if not threads
 * wire_dtype = auto                  # auto (bf16 when every node computes in bf16, else fp32) | fp32 | bf16
 * epoch = 1
 * receive_timeout_ms = 120000
 * stream_id_base = 12288            # Aeron streams from here on; groups sharing a driver: 1024 apart
 * device = auto                      # auto | cpu | cuda | cuda:N, for every node …
 * attention.0.device = cuda:0        # … unless the node names its own
 * attention.0.gpu_memory_utilization = 0.3  # the most of its GPU's memory the node holds (GPU shared)
 * dtype = auto                       # auto | float32 | bfloat16
 * </pre>
 */
public final class ClusterConfigLoader {
    static final int MAX_EXPERT_ID = 65_535;

    private ClusterConfigLoader() {
    }

    public static ClusterConfig load(Path file) {
        ConfigFields f = ConfigFields.read(file, "cluster config");
        return parse(f.p(), f.where(), file.toAbsolutePath().getParent());
    }

    static ClusterConfig parse(Properties p, String where, Path base) {
        ConfigFields f = new ConfigFields(p, where);
        String model = f.required("model");
        String transport = f.get("transport", "aeron-ipc");
        if (!Set.of("aeron-ipc", "aeron-udp", "tcp").contains(transport)) {
            throw new TandemException(where + ": transport '" + transport + "' is not aeron-ipc, aeron-udp or tcp");
        }
        String m = f.get("micro_batches", "auto");
        int microBatches = m.equals("auto") ? 0 : f.intIn("micro_batches", 1, 4);
        List<ClusterConfig.Node> attention = new ArrayList<>();
        for (int i = 0; i < f.intIn("attention.nodes", 1, 512); i++) {
            attention.add(new ClusterConfig.Node(i, f.get("attention." + i + ".endpoint", "ipc"), new int[0],
                    device(f, "attention." + i + ".device", null), share(f, "attention." + i + ".gpu_memory_utilization")));
        }
        List<ClusterConfig.Node> experts = new ArrayList<>();
        for (int i = 0; i < f.intIn("expert.nodes", 1, 512); i++) {
            experts.add(new ClusterConfig.Node(i, f.get("expert." + i + ".endpoint", "ipc"),
                    parseExperts(f.required("expert." + i + ".experts"), where + ": expert." + i + ".experts"),
                    device(f, "expert." + i + ".device", null), share(f, "expert." + i + ".gpu_memory_utilization")));
        }
        String dtype = f.get("wire_dtype", "auto");
        if (!dtype.equals("fp32") && !dtype.equals("bf16") && !dtype.equals("auto")) {
            throw new TandemException(where + ": wire_dtype '" + dtype + "' is not auto, fp32 or bf16");
        }
        Path modelPath = base == null ? Path.of(model) : base.resolve(model);
        return new ClusterConfig(modelPath, transport, p.getProperty("aeron.dir"), attention, experts, microBatches,
                f.intIn("max_batch_tokens", 1, 1 << 20, 256), f.intIn("kv_tokens", 1, 1 << 26, 8192),
                f.intIn("threads", 1, 1024, 1), dtype, f.intIn("epoch", 0, Integer.MAX_VALUE, 1),
                f.intIn("receive_timeout_ms", 1, Integer.MAX_VALUE, 120_000),
                f.intIn("stream_id_base", 1, Integer.MAX_VALUE - 4096, ClusterConfig.DEFAULT_STREAM_ID_BASE),
                f.intIn("attention.threads", 0, 1024, 0), device(f, "device", "auto"), backendDtype(f));
    }

    /** A node's share of its GPU's memory, in (0, 1]; 0 where the key is absent. */
    private static double share(ConfigFields f, String key) {
        String value = f.get(key, null);
        if (value == null) {
            return 0;
        }
        try {
            double share = Double.parseDouble(value.trim());
            if (share > 0 && share <= 1) {
                return share;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new TandemException(f.where() + ": " + key + " = '" + value + "': expected a share of the GPU's memory in (0, 1]");
    }

    /** A device key, checked now so that a typo fails at load naming the key. */
    private static String device(ConfigFields f, String key, String fallback) {
        String value = f.get(key, fallback);
        if (value != null) {
            try {
                new BackendSpec(value, "auto", 0);
            } catch (TandemException e) {
                throw new TandemException(f.where() + ": " + key + ": " + e.getMessage());
            }
        }
        return value;
    }

    private static String backendDtype(ConfigFields f) {
        String value = f.get("dtype", "auto");
        try {
            new BackendSpec("auto", value, 0);
        } catch (TandemException e) {
            throw new TandemException(f.where() + ": dtype: " + e.getMessage());
        }
        return value;
    }

    /** "0-3,6" → [0, 1, 2, 3, 6]. */
    static int[] parseExperts(String spec, String where) {
        Set<Integer> ids = new TreeSet<>();
        for (String part : spec.split(",")) {
            String s = part.trim();
            try {
                int dash = s.indexOf('-');
                int from = Integer.parseInt(dash < 0 ? s : s.substring(0, dash).trim());
                int to = dash < 0 ? from : Integer.parseInt(s.substring(dash + 1).trim());
                if (from < 0 || to < from || to > MAX_EXPERT_ID) { // a bound: "0-2147483647" never ended
                    throw new NumberFormatException();
                }
                for (int e = from; e <= to; e++) {
                    ids.add(e);
                }
            } catch (NumberFormatException e) {
                throw new TandemException(where + ": '" + s + "' is not an expert id or range like 0-3 (ids 0.."
                        + MAX_EXPERT_ID + ")");
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The file for {@code config}, loadable by {@link #load}. */
    public static String format(ClusterConfig c) {
        Properties p = new Properties();
        p.setProperty("model", c.model().toString());
        p.setProperty("transport", c.transport());
        if (c.aeronDirectory() != null) {
            p.setProperty("aeron.dir", c.aeronDirectory());
        }
        p.setProperty("micro_batches", c.microBatches() == 0 ? "auto" : Integer.toString(c.microBatches()));
        p.setProperty("attention.nodes", Integer.toString(c.attentionNodes().size()));
        for (ClusterConfig.Node n : c.attentionNodes()) {
            p.setProperty("attention." + n.id() + ".endpoint", n.endpoint());
        }
        p.setProperty("expert.nodes", Integer.toString(c.expertNodes().size()));
        for (ClusterConfig.Node n : c.expertNodes()) {
            p.setProperty("expert." + n.id() + ".endpoint", n.endpoint());
            p.setProperty("expert." + n.id() + ".experts", String.join(",",
                    Arrays.stream(n.experts()).mapToObj(Integer::toString).toList()));
        }
        p.setProperty("max_batch_tokens", Integer.toString(c.maxBatchTokens()));
        p.setProperty("kv_tokens", Integer.toString(c.kvTokens()));
        p.setProperty("threads", Integer.toString(c.threadsPerNode()));
        p.setProperty("wire_dtype", c.wireDtype());
        p.setProperty("epoch", Long.toString(c.epoch()));
        p.setProperty("receive_timeout_ms", Long.toString(c.receiveTimeoutMs()));
        p.setProperty("stream_id_base", Integer.toString(c.streamIdBase()));
        if (c.attentionThreads() > 0) {
            p.setProperty("attention.threads", Integer.toString(c.attentionThreads()));
        }
        p.setProperty("device", c.device());
        p.setProperty("dtype", c.dtype());
        for (ClusterConfig.Node n : c.attentionNodes()) {
            if (n.device() != null) {
                p.setProperty("attention." + n.id() + ".device", n.device());
            }
            if (n.memoryShare() > 0) {
                p.setProperty("attention." + n.id() + ".gpu_memory_utilization", Double.toString(n.memoryShare()));
            }
        }
        for (ClusterConfig.Node n : c.expertNodes()) {
            if (n.device() != null) {
                p.setProperty("expert." + n.id() + ".device", n.device());
            }
            if (n.memoryShare() > 0) {
                p.setProperty("expert." + n.id() + ".gpu_memory_utilization", Double.toString(n.memoryShare()));
            }
        }
        StringWriter out = new StringWriter();
        try {
            p.store(out, "Tandem cluster");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toString();
    }
}
