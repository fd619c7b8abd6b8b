package dev.tandem.cli;

import dev.tandem.bench.serve.LengthLimits;
import dev.tandem.bench.serve.Trace;
import picocli.CommandLine.Option;

/** The trace a simulation replays and how ({@code tandem simulate}, {@code tandem plan}). */
final class SimulatedTraceOptions {
    @Option(names = "--trace", defaultValue = "conv", description = "code, conv (the bundled Azure traces) or a CSV"
            + " file of the same form (default ${DEFAULT-VALUE}).")
    String trace;

    @Option(names = "--duration", description = "Seconds of arrivals a run (default 600 for simulate, 300 a trial for plan).")
    Double duration;

    @Option(names = "--offset", defaultValue = "0", description = "Seconds into the trace where the replay starts; it wraps.")
    double offset;

    @Option(names = "--context", defaultValue = "0", description = "The model's context: with --scale-to-context,"
            + " requests past it are scaled down (0: no limit).")
    int context;

    @Option(names = "--scale-to-context", description = "Scale a request's prompt and output down together past --context.")
    boolean scaleToContext;

    @Option(names = "--max-prompt", defaultValue = "0", description = "Clip prompts to this many tokens.")
    int maxPrompt;

    @Option(names = "--max-output", defaultValue = "0", description = "Clip outputs to this many tokens.")
    int maxOutput;

    @Option(names = "--baseline-requests", defaultValue = "8", description = "Requests run alone for the unloaded"
            + " baseline that slowdowns are relative to (default ${DEFAULT-VALUE}).")
    int baselineRequests;

    Trace load() {
        return Trace.load(trace);
    }

    /** --duration, or {@code fallback} seconds; above 0. */
    double durationSeconds(double fallback) {
        double d = duration != null ? duration : fallback;
        if (!(d > 0)) {
            throw new IllegalArgumentException("--duration must be above 0 s");
        }
        return d;
    }

    LengthLimits limits() {
        return new LengthLimits(context, maxPrompt, maxOutput, scaleToContext);
    }
}
