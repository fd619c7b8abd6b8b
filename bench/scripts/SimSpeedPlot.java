import dev.tandem.bench.plot.LinePlot;
import java.nio.file.Path;
import java.util.List;

public class SimPlot {
    public static void main(String[] args) {
        double[] requests = {4800, 48000, 480000, 1200000};
        double[] seconds = {0.19, 0.84, 5.40, 18.69};
        double[] linear = new double[requests.length];
        for (int i = 0; i < requests.length; i++) {
            linear[i] = seconds[2] * requests[i] / requests[2];
        }
        LinePlot plot = new LinePlot("tandem simulate: run time against requests (2 cores)", "requests (log)",
                "seconds (log)").logX(true).logY(true).xTicks(requests);
        plot.series("measured", requests, seconds);
        plot.series("linear through 480k", linear.length == 0 ? requests : requests, linear);
        LinePlot.writePng(Path.of(args[0]), List.of(plot), 1, 640, 420);
    }
}
