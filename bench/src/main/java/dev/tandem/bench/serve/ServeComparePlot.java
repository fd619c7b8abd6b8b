package dev.tandem.bench.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.bench.plot.LinePlot;
import dev.tandem.core.TandemException;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Several {@code bench serve --json} reports side by side (layouts, or runs of one layout): the P90
 * slowdown of TTFT, TBT and E2E against the offered rate, each with its Splitwise limit, and the
 * completed requests per second. One series per report, named after its file.
 */
public final class ServeComparePlot {
    private static final double P90 = 0.9;

    private ServeComparePlot() {
    }

    public static void write(Path png, List<Path> reports) {
        ObjectMapper json = new ObjectMapper();
        List<LinePlot> plots = new ArrayList<>();
        for (String metric : List.of("TTFT", "TBT", "E2E")) {
            plots.add(new LinePlot(metric + " P90 slowdown (measured / unloaded)", "offered rate (req/s)", "slowdown")
                    .logY(true));
        }
        LinePlot done = new LinePlot("Completed requests/s", "offered rate (req/s)", "req/s");
        plots.add(done);
        double maxRate = 0;
        for (Path file : reports) {
            JsonNode rates = read(json, file).path("rates");
            String name = file.getFileName().toString().replaceFirst("\\.json$", "");
            double[] x = new double[rates.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = rates.get(i).path("rate").asDouble();
                maxRate = Math.max(maxRate, x[i]);
            }
            for (int m = 0; m < 3; m++) {
                String metric = List.of("TTFT", "TBT", "E2E").get(m);
                double[] y = new double[x.length];
                for (int i = 0; i < x.length; i++) {
                    y[i] = slowdown(rates.get(i), metric);
                }
                plots.get(m).series(name, x, y);
            }
            double[] completed = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                completed[i] = rates.get(i).path("requestsPerSecond").asDouble();
            }
            done.series(name, x, completed);
        }
        double[] ends = {0, maxRate};
        plots.get(0).series("limit", Color.BLACK, ends, new double[] {3, 3});
        plots.get(1).series("limit", Color.BLACK, ends, new double[] {1.5, 1.5});
        plots.get(2).series("limit", Color.BLACK, ends, new double[] {1.5, 1.5});
        done.series("offered", Color.BLACK, ends, ends);
        LinePlot.writePng(png, plots, 2, 640, 420);
    }

    /** The P90 slowdown of {@code metric} in one rate's SLO checks; NaN if absent or not finite. */
    private static double slowdown(JsonNode rate, String metric) {
        for (JsonNode check : rate.path("slo")) {
            if (check.path("metric").asText().equals(metric) && Math.abs(check.path("percentile").asDouble() - P90) < 1e-9
                    && check.path("slowdown").isNumber()) {
                return check.path("slowdown").asDouble();
            }
        }
        return Double.NaN;
    }

    private static JsonNode read(ObjectMapper json, Path file) {
        try {
            JsonNode root = json.readTree(file.toFile());
            if (root == null || !root.path("rates").isArray()) {
                throw new TandemException(file + ": not a bench serve --json report (no \"rates\")");
            }
            return root;
        } catch (IOException e) {
            throw new TandemException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
