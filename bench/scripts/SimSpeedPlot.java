import dev.tandem.bench.plot.LinePlot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Draws bench/scripts/sim-speed.sh's speed.csv: simulation time against requests, a line a profile, and a
 * line through the origin and the largest run of each (cost linear in requests).
 *   java -cp "$(ls cli/target/lib/*.jar | tr '\n' :)" bench/scripts/SimSpeedPlot.java speed.csv out.png
 */
public class SimSpeedPlot {
    public static void main(String[] args) throws IOException {
        Map<String, List<double[]>> byProfile = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",");
            byProfile.computeIfAbsent(f[0], k -> new ArrayList<>())
                    .add(new double[] {Double.parseDouble(f[6]), Double.parseDouble(f[8])});
        }
        LinePlot plot = new LinePlot("tandem simulate: one hour of the code trace (2 cores)", "requests (log)",
                "simulation seconds (log)").logX(true).logY(true);
        int color = 0;
        for (var e : byProfile.entrySet()) {
            double[] requests = e.getValue().stream().mapToDouble(p -> p[0]).toArray();
            double[] seconds = e.getValue().stream().mapToDouble(p -> p[1]).toArray();
            int last = requests.length - 1;
            double[] linear = new double[requests.length];
            for (int i = 0; i < requests.length; i++) {
                linear[i] = seconds[last] * requests[i] / requests[last];
            }
            plot.series(e.getKey(), LinePlot.paletteColor(color++), requests, seconds);
            plot.series(e.getKey() + ", linear", LinePlot.paletteColor(color++), requests, linear);
        }
        plot.series("60 s target", java.awt.Color.BLACK, new double[] {1e5, 3e7}, new double[] {60, 60});
        LinePlot.writePng(Path.of(args[1]), List.of(plot), 1, 700, 440);
    }
}
