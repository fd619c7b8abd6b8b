package dev.tandem.bench.serve;

import dev.tandem.core.TandemException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoField;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A request trace in the Azure LLM inference trace form: {@code TIMESTAMP,ContextTokens,GeneratedTokens},
 * one request per row. Timestamps are either date-times ({@code 2023-11-16 18:17:03.9799600}) or plain
 * seconds; they are kept relative to the first arrival.
 *
 * @param arrivalSeconds s since the first arrival, ascending
 */
public record Trace(String name, double[] arrivalSeconds, int[] contextTokens, int[] generatedTokens) {
    private static final String RESOURCE_DIR = "/dev/tandem/bench/traces/";
    private static final DateTimeFormatter DATE_TIME = new DateTimeFormatterBuilder()
            .appendPattern("yyyy-MM-dd HH:mm:ss")
            .optionalStart().appendFraction(ChronoField.NANO_OF_SECOND, 0, 9, true).optionalEnd()
            .toFormatter();

    public Trace {
        if (arrivalSeconds.length == 0) {
            throw new TandemException(name + ": the trace has no requests");
        }
        if (arrivalSeconds.length != contextTokens.length || arrivalSeconds.length != generatedTokens.length) {
            throw new IllegalArgumentException(name + ": columns of different lengths");
        }
    }

    public int size() {
        return arrivalSeconds.length;
    }

    /** @return the mean arrival rate, requests/s: (n − 1) arrivals over the span from first to last; a one-row trace has none */
    public double meanRate() {
        double span = arrivalSeconds[size() - 1];
        return size() < 2 || span <= 0 ? Double.NaN : (size() - 1) / span;
    }

    /**
     * Arrival time of request {@code k} of the trace repeated end to end, s. The repetition period is the span
     * plus one mean gap, so that replaying past the end keeps the mean rate.
     */
    public double wrappedArrival(long k) {
        double span = arrivalSeconds[size() - 1];
        double period = size() < 2 ? 1 : span + span / (size() - 1);
        return arrivalSeconds[(int) (k % size())] + (k / size()) * period;
    }

    /** {@code code} and {@code conv} are the bundled Azure traces; anything else is a CSV file of the same form. */
    public static Trace load(String spec) {
        if (spec.equals("code") || spec.equals("conv")) {
            InputStream in = Trace.class.getResourceAsStream(RESOURCE_DIR + spec + ".csv");
            if (in == null) {
                throw new IllegalStateException("bundled trace " + spec + ".csv is missing from the classpath");
            }
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                return parse(reader, spec);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        Path file = Path.of(spec);
        if (!Files.isRegularFile(file)) {
            throw new TandemException(spec + ": no such trace file (or use --trace code or --trace conv)");
        }
        try (BufferedReader reader = Files.newBufferedReader(file)) {
            return parse(reader, spec);
        } catch (IOException e) {
            throw new TandemException(spec + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Parses a header line then {@code TIMESTAMP,ContextTokens,GeneratedTokens} rows; blank lines are skipped. */
    public static Trace parse(BufferedReader reader, String source) throws IOException {
        String header = reader.readLine();
        if (header == null || !header.replace(" ", "").toLowerCase().startsWith("timestamp,contexttokens,generatedtokens")) {
            throw new TandemException(source + ": expected the header TIMESTAMP,ContextTokens,GeneratedTokens, found "
                    + header);
        }
        record Row(double time, int context, int generated) {
        }
        List<Row> rows = new ArrayList<>();
        int lineNumber = 1;
        for (String line = reader.readLine(); line != null; line = reader.readLine()) {
            lineNumber++;
            if (line.isBlank()) {
                continue;
            }
            String[] fields = line.split(",");
            if (fields.length < 3) {
                throw new TandemException(source + " line " + lineNumber + ": expected 3 fields, found " + line);
            }
            try {
                rows.add(new Row(seconds(fields[0].trim()), Integer.parseInt(fields[1].trim()),
                        Integer.parseInt(fields[2].trim())));
            } catch (NumberFormatException | DateTimeParseException e) {
                throw new TandemException(source + " line " + lineNumber + ": " + e.getMessage(), e);
            }
        }
        rows.sort(Comparator.comparingDouble(Row::time));
        double first = rows.isEmpty() ? 0 : rows.getFirst().time();
        return new Trace(source, rows.stream().mapToDouble(r -> r.time() - first).toArray(),
                rows.stream().mapToInt(Row::context).toArray(), rows.stream().mapToInt(Row::generated).toArray());
    }

    /** Seconds since an arbitrary epoch, microsecond-exact for the trace's date-times. */
    private static double seconds(String timestamp) {
        if (!timestamp.contains("-") && !timestamp.contains(":")) {
            return Double.parseDouble(timestamp);
        }
        LocalDateTime t = LocalDateTime.parse(timestamp, DATE_TIME);
        return t.toEpochSecond(ZoneOffset.UTC) + t.getNano() / 1e9;
    }
}
