package dev.tandem.bench;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The generate table: prefill and decode tokens/s per engine and batch size, Tandem over Jlama.
 *
 * @param wallSeconds the whole run, loading and warm-ups included
 */
public record GenerateReport(GenerateBenchmark.Settings settings, MachineInfo machine, List<Throughput> results,
                             long invalidJlamaTokens, double wallSeconds) {
    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("Machine: ").append(machine.describe()).append("; ").append(settings.threads()).append(" threads per engine\n");
        sb.append("Model: ").append(settings.model()).append("; prompt ").append(settings.promptTokens())
                .append(" tokens, decode ").append(settings.decodeTokens()).append(" tokens per sequence after the first")
                .append(String.format("; whole run %.0f s%n", wallSeconds));
        if (machine.busyWarning() != null) {
            sb.append(machine.busyWarning()).append('\n');
        }
        sb.append('\n');
        sb.append("| engine | batch | prefill tok/s | decode tok/s | ratio Tandem/Jlama (prefill, decode) | CPU taken by other processes |\n");
        sb.append("|---|---:|---:|---:|---:|---:|\n");
        for (int batch : settings.batchSizes()) {
            Throughput tandem = find("Tandem", batch);
            Throughput jlama = find("Jlama", batch);
            for (Throughput t : new Throughput[] {tandem, jlama}) {
                if (t == null) {
                    continue;
                }
                String ratio = t == tandem && jlama != null
                        ? String.format("%.2f×, %.2f×", ratio(tandem.prefillTokensPerSecond(), jlama.prefillTokensPerSecond()),
                                ratio(tandem.decodeTokensPerSecond(), jlama.decodeTokensPerSecond()))
                        : "";
                String engine = t == jlama && batch > 1 ? "Jlama (" + batch + " sequences round-robin)" : t.engine();
                sb.append(String.format("| %s | %d | %.2f | %.2f | %s | %.0f%% |%n", engine, batch,
                        t.prefillTokensPerSecond(), t.decodeTokensPerSecond(), ratio, 100 * t.foreignLoad()));
            }
        }
        if (invalidJlamaTokens > 0) {
            sb.append("\nJlama sampled ").append(invalidJlamaTokens)
                    .append(" out-of-vocabulary ids (stock batched-prefill bug), replaced by 0.\n");
        }
        return sb.toString();
    }

    private Throughput find(String engine, int batch) {
        return results.stream().filter(t -> t.engine().equals(engine) && t.batch() == batch).findFirst().orElse(null);
    }

    private static double ratio(double a, double b) {
        return b == 0 ? Double.NaN : a / b;
    }

    public void writeJson(Path file) {
        Map<String, Object> root = new LinkedHashMap<>();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("model", settings.model().toString());
        s.put("batchSizes", Arrays.stream(settings.batchSizes()).boxed().toList());
        s.put("promptTokens", settings.promptTokens());
        s.put("decodeTokens", settings.decodeTokens());
        s.put("threads", settings.threads());
        s.put("peer", settings.peer());
        s.put("jlamaActivations", settings.jlamaActivations());
        s.put("seed", settings.seed());
        root.put("settings", s);
        root.put("machine", machine);
        root.put("results", results.stream().map(t -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("engine", t.engine());
            m.put("batch", t.batch());
            m.put("prefillTokens", t.prefillTokens());
            m.put("prefillSeconds", t.prefillSeconds());
            m.put("prefillTokensPerSecond", t.prefillTokensPerSecond());
            m.put("decodeTokens", t.decodeTokens());
            m.put("decodeSeconds", t.decodeSeconds());
            m.put("decodeTokensPerSecond", t.decodeTokensPerSecond());
            m.put("foreignLoad", t.foreignLoad());
            return m;
        }).toList());
        root.put("invalidJlamaTokens", invalidJlamaTokens);
        root.put("wallSeconds", wallSeconds);
        JsonFiles.write(file, root);
    }
}
