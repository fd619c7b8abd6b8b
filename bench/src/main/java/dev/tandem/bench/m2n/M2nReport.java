package dev.tandem.bench.m2n;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.bench.m2n.M2nBenchConfig.Shape;
import dev.tandem.bench.plot.LinePlot;
import dev.tandem.bench.plot.SiNumbers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The M2N benchmark's outputs: a markdown table, the JSON file, and the PNG plot. */
public final class M2nReport {
    private M2nReport() {
    }

    /** One row per result, in run order. */
    public static String markdown(List<M2nResult> results) {
        final StringBuilder sb = new StringBuilder();
        sb.append("| transport | M×N | bytes/peer | throughput MB/s | p50 µs | p99 µs | p99.9 µs |\n");
        sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
        for (M2nResult r : results) {
            sb.append(String.format(Locale.ROOT, "| %s | %d×%d | %s | %.0f | %.1f | %.1f | %.1f |%n", r.transport(),
                    r.m(), r.n(), size(r.bytes()), r.throughputMbS(), r.p50Us(), r.p99Us(), r.p999Us()));
        }
        return sb.toString();
    }

    /** {@code {"results":[{"transport", "m", "n", "bytes", "throughput_mb_s", "p50_us", "p99_us", "p999_us"}]}}. */
    public static void writeJson(Path file, List<M2nResult> results) {
        final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        final ObjectNode root = json.createObjectNode();
        final ArrayNode rows = root.putArray("results");
        for (M2nResult r : results) {
            rows.addObject()
                    .put("transport", r.transport())
                    .put("m", r.m())
                    .put("n", r.n())
                    .put("bytes", r.bytes())
                    .put("throughput_mb_s", round(r.throughputMbS()))
                    .put("p50_us", round(r.p50Us()))
                    .put("p99_us", round(r.p99Us()))
                    .put("p999_us", round(r.p999Us()));
        }
        try {
            final Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            json.writeValue(file.toFile(), root);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write " + file, ex);
        }
    }

    /** The results {@link #writeJson} wrote ({@code roundTrips}, which it leaves out, read as 0). */
    public static List<M2nResult> readJson(Path file) {
        try {
            final List<M2nResult> results = new ArrayList<>();
            for (var row : new ObjectMapper().readTree(file.toFile()).path("results")) {
                results.add(new M2nResult(row.path("transport").asText(), row.path("m").asInt(), row.path("n").asInt(),
                        row.path("bytes").asLong(), row.path("throughput_mb_s").asDouble(), row.path("p50_us").asDouble(),
                        row.path("p99_us").asDouble(), row.path("p999_us").asDouble(), 0));
            }
            if (results.isEmpty()) {
                throw new IllegalArgumentException(file + ": no \"results\" rows (not a bench m2n --json file)");
            }
            return results;
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read " + file, ex);
        }
    }

    /** {@link #writePlot} of a saved run: its shapes and transports in the order they first appear. */
    public static void replot(Path file, List<M2nResult> results) {
        final List<Shape> shapes = results.stream().map(r -> new Shape(r.m(), r.n())).distinct().toList();
        final List<Transport> transports = new ArrayList<>();
        for (Transport t : Transport.values()) {
            if (results.stream().anyMatch(r -> r.transport().equals(t.label()))) {
                transports.add(t);
            }
        }
        writePlot(file, results, shapes, transports);
    }

    /**
     * Throughput (top row) and p99 round trip (bottom row) against bytes per peer, one column per
     * M×N, one line per transport in a fixed colour; both axes logarithmic.
     */
    public static void writePlot(Path file, List<M2nResult> results, List<Shape> shapes, List<Transport> transports) {
        final List<LinePlot> plots = new ArrayList<>();
        for (int row = 0; row < 2; row++) {
            final boolean throughput = row == 0;
            for (Shape shape : shapes) {
                final LinePlot plot = new LinePlot(
                        (throughput ? "Throughput, " : "p99 round trip, ") + shape.m() + "×" + shape.n(),
                        "bytes per peer (log)", throughput ? "MB/s (log)" : "µs (log)")
                        .logX(true).logY(true).xFormat(M2nReport::size)
                        .xTicks(results.stream().mapToDouble(M2nResult::bytes).distinct().sorted().toArray());
                for (int t = 0; t < transports.size(); t++) {
                    final String label = transports.get(t).label();
                    final List<M2nResult> line = results.stream()
                            .filter(r -> r.transport().equals(label) && r.m() == shape.m() && r.n() == shape.n())
                            .sorted((a, b) -> Long.compare(a.bytes(), b.bytes()))
                            .toList();
                    if (!line.isEmpty()) {
                        plot.series(label, LinePlot.paletteColor(t),
                                line.stream().mapToDouble(M2nResult::bytes).toArray(),
                                line.stream().mapToDouble(r -> throughput ? r.throughputMbS() : r.p99Us()).toArray());
                    }
                }
                plots.add(plot);
            }
        }
        LinePlot.writePng(file, plots, shapes.size(), 520, 380);
    }

    /** 2000 -> "2 KB", 8000000 -> "8 MB" (decimal units, as the benchmark's sizes are). */
    static String size(double bytes) {
        if (bytes >= 1e6) {
            return SiNumbers.si(bytes / 1e6).replace("k", "000") + " MB";
        }
        if (bytes >= 1e3) {
            return SiNumbers.si(bytes / 1e3) + " KB";
        }
        return SiNumbers.si(bytes) + " B";
    }

    private static double round(double v) {
        return Math.round(v * 10) / 10.0;
    }
}
