package dev.tandem.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tandem simulate} and {@code tandem plan} as a user runs them, on files of their own. */
class SimulateCommandTest {
    @TempDir
    Path temp;

    private Path write(String name, String text) throws IOException {
        Path file = temp.resolve(name);
        Files.writeString(file, text);
        return file;
    }

    private Path profile() throws IOException {
        // prefill 10 + 0.1·n ms, decode steps 5 + 1·b ms, no KV delay
        return write("profile.properties", """
                name = hand
                prefill.intercept_ms = 10
                prefill.per_token_ms = 0.1
                decode.intercept_ms = 5
                decode.per_sequence_ms = 1
                power.prefill_w = 700
                power.decode_w = 500
                power.idle_w = 100
                """);
    }

    private Path trace() throws IOException {
        return write("trace.csv", """
                TIMESTAMP,ContextTokens,GeneratedTokens
                2023-11-16 18:00:00.0000000,100,5
                2023-11-16 18:01:00.0000000,100,5
                """);
    }

    @Test
    void shouldPrintBenchServesReportAndThePoolsUsage() throws IOException {
        Path cluster = write("cluster.properties", "prompt.nodes = 1\ntoken.nodes = 1\n");
        Path json = temp.resolve("sim.json");
        Path power = temp.resolve("power.png");
        CliFixtures.Run run = CliFixtures.tandem("simulate", "--trace", trace().toString(), "--cluster",
                cluster.toString(), "--profile", profile().toString(), "--duration", "120", "--json", json.toString(),
                "--power-plot", power.toString());
        assertEquals(0, run.exitCode(), run.err());
        // alone, each request: TTFT 20 ms, tokens at 26, 32, 38, 44 (E2E 44 ms)
        assertTrue(run.out().contains("| 20.0 / 20.0 / 20.0 |"), run.out());
        assertTrue(run.out().contains("| 44.0 / 44.0 / 44.0 |"), run.out());
        assertTrue(run.out().contains("| rate/s | simulated s | prompt util | token util |"), run.out());
        assertTrue(run.err().contains("simulate: rate"), run.err());
        assertTrue(Files.size(json) > 0);
        assertEquals(900, javax.imageio.ImageIO.read(power.toFile()).getWidth());
    }

    @Test
    void shouldRefuseAPlotOfARunTooLargeToKeepEveryRequestBeforeRunningIt() throws IOException {
        Path cluster = write("cluster.properties", "prompt.nodes = 1\ntoken.nodes = 1\n");
        CliFixtures.Run run = CliFixtures.tandem("simulate", "--trace", trace().toString(), "--cluster",
                cluster.toString(), "--profile", profile().toString(), "--rate", "20000", "--duration", "60", "--plot",
                temp.resolve("p.png").toString());
        assertTrue(run.exitCode() != 0);
        // the command's own check, before the run (the plot's, after it, words it otherwise)
        assertTrue(run.err().contains("1200000 requests keeps only a tally past 1000000"), run.err());
    }

    @Test
    void shouldPlanMoreMachinesThanThePowerBudgetProvidesUnderPolcasCapping() throws IOException {
        // 700 W at peak a machine: 1400 W provisions 2; oversubscribed 1.5x, 3 fit, simulated under the 1400 W
        Path capped = write("capped.properties", Files.readString(profile())
                + "power.cap_w = 400\npower.cap_prefill_factor = 1.5\npower.cap_decode_factor = 1.1\n");
        Path best = temp.resolve("best.properties");
        CliFixtures.Run run = CliFixtures.tandem("plan", "--trace", trace().toString(), "--profile", capped.toString(),
                "--budget-power", "1400", "--oversubscribe", "1.5", "--duration", "120", "--threads", "1", "--out",
                best.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("| 2.10 |"), "3 machines' peak, 2.1 kW, under a 1.4 kW budget: " + run.out());
        String file = Files.readString(best);
        assertTrue(file.contains("power_budget_w = 1400"), file);
        CliFixtures.Run simulated = CliFixtures.tandem("simulate", "--trace", trace().toString(), "--cluster",
                best.toString(), "--profile", capped.toString(), "--duration", "120");
        assertEquals(0, simulated.exitCode(), simulated.err());
        assertTrue(simulated.out().contains("| prompt capped | token capped |"), simulated.out());

        CliFixtures.Run uncappable = CliFixtures.tandem("plan", "--trace", trace().toString(), "--profile",
                profile().toString(), "--budget-power", "1400", "--oversubscribe", "1.5", "--duration", "120");
        assertTrue(uncappable.exitCode() != 0 && uncappable.err().contains("power.cap_w"), uncappable.err());
        CliFixtures.Run byCount = CliFixtures.tandem("plan", "--trace", trace().toString(), "--profile",
                capped.toString(), "--machines", "2", "--oversubscribe", "1.5", "--duration", "120");
        assertTrue(byCount.exitCode() != 0 && byCount.err().contains("only with --budget-power"), byCount.err());
    }

    @Test
    void shouldRankEverySplitAndWriteTheBestAsAClusterFile() throws IOException {
        Path best = temp.resolve("best.properties");
        CliFixtures.Run run = CliFixtures.tandem("plan", "--trace", trace().toString(), "--profile",
                profile().toString(), "--machines", "2", "--duration", "120", "--threads", "1", "--out", best.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(3, run.out().lines().filter(l -> l.matches("\\| [123] \\|.*")).count(), run.out());
        String file = Files.readString(best);
        assertTrue(file.contains("prompt.nodes = ") && file.contains("token.nodes = "), file);
        CliFixtures.Run simulated = CliFixtures.tandem("simulate", "--trace", trace().toString(), "--cluster",
                best.toString(), "--profile", profile().toString(), "--duration", "120");
        assertEquals(0, simulated.exitCode(), simulated.err());
    }

    @Test
    void shouldMeasureAProfileThatSimulateReads() throws IOException {
        Path profile = temp.resolve("tiny.properties");
        CliFixtures.Run backwards = CliFixtures.tandem("profile", "--model", CliFixtures.fixture("mixtral-tiny").toString(),
                "--contexts", "64,8", "--out", profile.toString());
        assertNotEquals(0, backwards.exitCode());
        assertTrue(backwards.err().contains("--contexts"), backwards.err());
        CliFixtures.Run run = CliFixtures.tandem("profile", "--model", CliFixtures.fixture("mixtral-tiny").toString(),
                "--prefill-tokens", "16,2000", "--batch-sizes", "1,2", "--contexts", "8,32", "--decode-tokens", "4",
                "--out", profile.toString());
        if (run.exitCode() != 0) { // a busy 2-core machine can drown the tiny model's steps in noise: then it says so
            assertTrue(run.err().contains("prefill time did not grow with the prompt"), run.err());
            return;
        }
        dev.tandem.sim.MachineProfile p = dev.tandem.sim.MachineProfile.load(profile);
        assertTrue(p.prefillPerTokenMs() > 0, "a prefill costs more with more tokens: " + p);
        assertTrue(p.decodeStepMs(1, 8) > 0, p.toString());
        assertEquals(2000, p.maxBatchTokens());
        String text = Files.readString(profile);
        assertTrue(text.contains("# prefill 2000 tokens alone: ") && text.contains("Not measured here"), text);
        Path cluster = write("cluster.properties", "prompt.nodes = 1\ntoken.nodes = 1\n");
        assertEquals(0, CliFixtures.tandem("simulate", "--trace", trace().toString(), "--cluster", cluster.toString(),
                "--profile", profile.toString(), "--duration", "120").exitCode());
    }

    @Test
    void shouldPlanAfdShapesAgainstColocatedGpus() throws IOException {
        // two layers, four experts, top-1; Ta = 100 + ba µs, Te = 50 + be µs, Tc = 10 µs (AfdPlannerTest's case)
        Path afd = write("afd.properties", """
                name = hand
                layers = 2
                experts = 4
                top_k = 1
                attention.intercept_us = 100
                attention.per_token_us = 1
                expert.intercept_us = 50
                expert.per_token_us = 1
                comm.intercept_us = 10
                gpu_memory_gb = 100
                attention.weights_gb = 10
                expert.weights_gb = 10
                kv_bytes_per_token = 1000000
                """);
        CliFixtures.Run run = CliFixtures.tandem("plan", "--afd", afd.toString(), "--machines", "2", "--tbt-slo-ms", "1",
                "--afd-context", "100");
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("| 1 | 1 | 1 | 2 | 300 |"), run.out());
        CliFixtures.Run tooFew = CliFixtures.tandem("plan", "--afd", afd.toString(), "--machines", "1");
        assertNotEquals(0, tooFew.exitCode());
        assertTrue(tooFew.err().contains("at least 2"), tooFew.err());
    }

    @Test
    void shouldNameTheLineOfABadProfileField() throws IOException {
        Path bad = write("bad.properties", "name = hand\nprefill.per_token_ms = -1\n");
        Path cluster = write("cluster.properties", "prompt.nodes = 1\ntoken.nodes = 1\n");
        CliFixtures.Run run = CliFixtures.tandem("simulate", "--trace", trace().toString(), "--cluster",
                cluster.toString(), "--profile", bad.toString());
        assertNotEquals(0, run.exitCode());
        assertTrue(run.err().contains(bad + ":2: 'prefill.per_token_ms'"), run.err());
    }
}
