package dev.tandem.bench.m2n;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.bench.m2n.M2nBenchConfig.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every transport runs a tiny configuration end to end, and the outputs have the promised shape. */
class M2nBenchmarkTest {
    private static final List<String> FIELDS =
            List.of("transport", "m", "n", "bytes", "throughput_mb_s", "p50_us", "p99_us", "p999_us");

    @Test
    void shouldMeasureEveryTransportAndWriteJsonTableAndPlot(@TempDir Path dir) throws IOException {
        M2nBenchConfig config = M2nBenchConfig.quick()
                .withShapes(List.of(new Shape(2, 2)))
                .withSizes(List.of(16_000))
                .withSeconds(0.05, 0.1);
        List<String> progress = new ArrayList<>();
        M2nBenchmark.Run run = M2nBenchmark.run(config, progress::add);

        assertEquals(List.of(), run.skipped(), String.join("\n", progress));
        assertEquals(4, run.results().size(), String.join("\n", progress));
        for (M2nResult result : run.results()) {
            assertTrue(result.throughputMbS() > 0 && result.roundTrips() >= 5, result.toString());
            assertTrue(result.p50Us() > 0 && result.p50Us() <= result.p99Us() && result.p99Us() <= result.p999Us(),
                    result.toString());
        }

        Path json = dir.resolve("m2n.json");
        M2nReport.writeJson(json, run.results());
        JsonNode rows = new ObjectMapper().readTree(json.toFile()).get("results");
        assertEquals(4, rows.size());
        List<String> labels = new ArrayList<>();
        for (JsonNode row : rows) {
            List<String> names = new ArrayList<>();
            for (Iterator<String> it = row.fieldNames(); it.hasNext(); ) {
                names.add(it.next());
            }
            assertEquals(FIELDS, names);
            labels.add(row.get("transport").asText());
        }
        assertEquals(List.of("aeron-ipc", "aeron-udp", "netty-tcp", "memcpy"), labels);

        String table = M2nReport.markdown(run.results());
        assertTrue(table.startsWith("| transport | M×N | bytes/peer | throughput MB/s | p50 µs | p99 µs | p99.9 µs |"),
                table);
        assertTrue(table.contains("| netty-tcp | 2×2 | 16 KB |"), table);

        Path png = dir.resolve("m2n.png");
        M2nReport.writePlot(png, run.results(), config.shapes(), config.transports());
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(520, image.getWidth());
        assertEquals(2 * 380, image.getHeight());
    }

    @Test
    void shouldReadBackWhatItWroteAndReplotIt(@TempDir Path dir) throws IOException {
        List<M2nResult> written = List.of(
                new M2nResult("aeron-ipc", 1, 1, 256_000, 6928.2, 66.7, 89.2, 108.3, 0),
                new M2nResult("memcpy", 1, 1, 256_000, 10026.0, 50.3, 62.3, 87.1, 0),
                new M2nResult("aeron-ipc", 2, 2, 256_000, 13563.4, 135.7, 172.7, 270.1, 0));
        Path json = dir.resolve("m2n.json");
        M2nReport.writeJson(json, written);
        assertEquals(written, M2nReport.readJson(json));

        Path png = dir.resolve("replot.png");
        M2nReport.replot(png, written);
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(2 * 520, image.getWidth(), "one column a shape: 1x1 and 2x2");
        assertEquals(2 * 380, image.getHeight());

        Path notM2n = dir.resolve("other.json");
        java.nio.file.Files.writeString(notM2n, "{\"rows\": []}");
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> M2nReport.readJson(notM2n));
        assertTrue(refused.getMessage().contains("other.json"), refused.getMessage());
    }

    /** The device path (rows copied out of and back into a backend's memory) on the CPU backend, which CI has. */
    @Test
    void shouldRunRoundTripsFromBackendMemoryAndItsCopyBound() {
        M2nBenchConfig config = M2nBenchConfig.quick().withShapes(List.of(new Shape(1, 1))).withSizes(List.of(16_000))
                .withSeconds(0.05, 0.1).withTransports(List.of(Transport.AERON_IPC, Transport.MEMCPY))
                .withDevice(dev.tandem.core.compute.BackendSpec.cpu(1));
        List<String> progress = new ArrayList<>();
        M2nBenchmark.Run run = M2nBenchmark.run(config, progress::add);
        assertEquals(2, run.results().size(), String.join("\n", progress));
        for (M2nResult result : run.results()) {
            assertTrue(result.throughputMbS() > 0 && result.roundTrips() >= 5, result.toString());
        }
    }

    /** toHost brings the backend's rows back over whatever the batch held since; toDevice the reverse. */
    @Test
    void shouldStageRowsBetweenTheBatchAndBackendMemoryBothWays() {
        dev.tandem.transport.RowBatch batch = new dev.tandem.transport.RowBatch(1, 8, M2nBenchmark.HIDDEN,
                dev.tandem.transport.Dtype.BF16);
        RoundTripRun.fill(batch, 7);
        int bytes = 8 * batch.rowBytes();
        byte[] original = new byte[bytes];
        batch.activations().getBytes(0, original);
        try (DeviceStage stage = DeviceStage.open(dev.tandem.core.compute.BackendSpec.cpu(1), batch)) {
            batch.activations().setMemory(0, bytes, (byte) 0);
            stage.toHost(8);
            byte[] back = new byte[bytes];
            batch.activations().getBytes(0, back);
            org.junit.jupiter.api.Assertions.assertArrayEquals(original, back);
            batch.activations().setMemory(0, bytes, (byte) 1);
            stage.toDevice(5);                          // rows 0-4 now ones on the device, 5-7 the original
            batch.activations().setMemory(0, bytes, (byte) 0);
            stage.toHost(8);
            batch.activations().getBytes(0, back);
            for (int i = 0; i < bytes; i++) {
                assertEquals(i < 5 * batch.rowBytes() ? 1 : original[i], back[i], "byte " + i);
            }
        }
    }

    @Test
    void shouldSkipConfigurationsWhoseAeronLogsExceedTheBudget() {
        assertEquals(6144, M2nBenchmark.aeronLogMiB(Transport.AERON_IPC, new Shape(4, 4), 8_000_000));
        assertEquals(12288, M2nBenchmark.aeronLogMiB(Transport.AERON_UDP, new Shape(4, 4), 8_000_000));
        assertEquals(0, M2nBenchmark.aeronLogMiB(Transport.NETTY_TCP, new Shape(4, 4), 8_000_000));
        M2nBenchConfig config = M2nBenchConfig.quick().withShapes(List.of(new Shape(1, 1))).withSizes(List.of(2_000))
                .withLogBudgetMiB(0).withTransports(List.of(Transport.AERON_IPC));
        M2nBenchmark.Run run = M2nBenchmark.run(config, line -> { });
        assertEquals(0, run.results().size());
        assertTrue(run.skipped().getFirst().contains("aeron-ipc 1x1 2000 B: skipped"), run.skipped().toString());
    }

    @Test
    void shouldReportTheMedianOfRepeatedRuns() {
        M2nBenchConfig config = M2nBenchConfig.quick().withShapes(List.of(new Shape(1, 1))).withSizes(List.of(2_000))
                .withTransports(List.of(Transport.MEMCPY, Transport.AERON_IPC)).withSeconds(0.02, 0.05).withRepeats(3);
        List<String> progress = new ArrayList<>();
        M2nBenchmark.Run run = M2nBenchmark.run(config, progress::add);
        assertEquals(2, run.results().size());
        List<String> runs = progress.stream().filter(line -> line.contains(" 1x1 2000 B: ")).toList();
        assertEquals(List.of("memcpy", "aeron-ipc", "memcpy", "aeron-ipc", "memcpy", "aeron-ipc"),
                runs.stream().map(line -> line.substring(0, line.indexOf(' '))).toList(), "transports take turns");
    }

    @Test
    void shouldNameSizesInDecimalUnits() {
        assertEquals("2 KB", M2nReport.size(2_000));
        assertEquals("256 KB", M2nReport.size(256_000));
        assertEquals("1 MB", M2nReport.size(1_000_000));
        assertEquals("8 MB", M2nReport.size(8_000_000));
    }
}
