package dev.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.bench.serve.PlannedRequest;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.TokenCollector;
import dev.tandem.core.sampling.SamplingParams;
import dev.tandem.scheduler.cluster.ClusterEngine;
import dev.tandem.scheduler.cluster.NodeLink;
import dev.tandem.scheduler.engine.EngineRejectedException;
import dev.tandem.scheduler.engine.ServedModel;
import dev.tandem.sim.ClusterSimulation;
import dev.tandem.sim.MachineProfile;
import dev.tandem.sim.SimulatedCluster;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One scripted scenario both ways: the simulator runs it on its virtual clock, and the live
 * {@link ClusterEngine}, over scripted nodes on pipes, is fed the same arrivals, first tokens and
 * ends in the order the simulator saw them. Both must route every request alike (split, whole on a
 * prompt machine, whole on a token machine; which machines) and turn away the same ones.
 */
class LiveAndSimulatedRoutingTest {
    private static final long WAIT_MS = 10_000;
    private static final int PROMPT_KV = 300;
    private static final int TOKEN_KV = 400;
    private static final long MIXED_THRESHOLD = 150;
    private static final int MAX_QUEUED = 3;
    private static final MachineProfile PROFILE = new MachineProfile("hand", "by hand", 10, 0.1, 5, 1, 0, 2, 0.01,
            150, 0, 0, 0, 0);
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void shouldRouteAScriptedScenarioAsTheSimulatorDoes() throws Exception {
        // {arrival ms, prompt tokens, output tokens}: bursts that back the prompt machines up (the mixed pool),
        // fill the token machines' KV (whole requests on prompt machines, waiting) and overflow the queue (429)
        int[][] scenario = {{0, 120, 40}, {0, 100, 60}, {0, 90, 30}, {0, 150, 50}, {5, 60, 80}, {5, 200, 20},
                {10, 80, 70}, {10, 40, 90}, {10, 100, 100}, {10, 120, 60}, {12, 70, 30}, {30, 50, 10},
                {60, 90, 40}, {200, 110, 50}, {210, 30, 120}};
        List<PlannedRequest> plan = new ArrayList<>();
        for (int i = 0; i < scenario.length; i++) {
            plan.add(new PlannedRequest(i, scenario[i][0] / 1e3, scenario[i][1], scenario[i][2]));
        }
        List<String> events = new ArrayList<>();
        new ClusterSimulation(new SimulatedCluster(2, 2, PROMPT_KV, TOKEN_KV, MIXED_THRESHOLD, MAX_QUEUED), PROFILE)
                .decisions(events::add).run(plan);
        Map<Integer, String> simulated = decisions(events);

        Map<Integer, String> live = runLive(events, scenario);
        assertEquals(simulated, live, "events: " + events);
        assertTrue(simulated.values().stream().anyMatch(d -> d.startsWith("SPLIT")), simulated.toString());
        assertTrue(simulated.values().stream().anyMatch(d -> d.startsWith("ON_")), "the mixed pool: " + simulated);
        assertTrue(simulated.values().stream().anyMatch(d -> d.equals("429")), "a full queue: " + simulated);
        assertTrue(java.util.stream.IntStream.range(0, scenario.length).anyMatch(i ->
                events.indexOf("route " + i + " " + simulated.get(i)) > events.indexOf("arrive " + i) + 1),
                "some request waited for room: " + events);
    }

    /** Request index to "KIND P T" or the status it was turned away with. */
    private static Map<Integer, String> decisions(List<String> events) {
        Map<Integer, String> out = new TreeMap<>();
        for (String e : events) {
            String[] f = e.split(" ");
            if (f[0].equals("route")) {
                out.put(Integer.parseInt(f[1]), f[2] + " " + f[3] + " " + f[4]);
            } else if (f[0].equals("reject")) {
                out.put(Integer.parseInt(f[1]), f[2]);
            }
        }
        return out;
    }

    private Map<Integer, String> runLive(List<String> events, int[][] scenario) throws Exception {
        ScriptedNode[] prompt = {new ScriptedNode(true, 0), new ScriptedNode(true, 1)};
        ScriptedNode[] token = {new ScriptedNode(false, 0), new ScriptedNode(false, 1)};
        ServedModel model = new ServedModel("m", 4096, 1000, new int[] {2});
        Map<Integer, String> live = new TreeMap<>();
        TokenCollector[] heard = new TokenCollector[scenario.length];
        try (ClusterEngine engine = new ClusterEngine(model, List.of(prompt[0].link, prompt[1].link),
                new long[] {PROMPT_KV, PROMPT_KV}, List.of(token[0].link, token[1].link), new long[] {TOKEN_KV, TOKEN_KV},
                MIXED_THRESHOLD, MAX_QUEUED)) {
            for (String e : events) {
                String[] f = e.split(" ");
                int i = Integer.parseInt(f[1]);
                switch (f[0]) {
                    case "arrive" -> {
                        int[] ids = new int[scenario[i][1]];
                        Arrays.fill(ids, 3);
                        ids[0] = 100 + i; // tells the scripted nodes which request a line is
                        heard[i] = new TokenCollector();
                        try {
                            engine.submit(new Request(ids, scenario[i][2], SamplingParams.GREEDY, true, false), heard[i]);
                        } catch (EngineRejectedException rejected) {
                            live.put(i, Integer.toString(rejected.status()));
                        }
                    }
                    case "first" -> {
                        Routed r = routeOf(i, prompt, token);
                        ScriptedNode prefiller = r.kind.equals("ON_TOKEN") ? token[r.tokenMachine] : prompt[r.promptMachine];
                        prefiller.send("{\"id\":\"" + r.id + "\",\"token\":1}");
                        if (r.kind.equals("SPLIT")) {
                            prefiller.send("{\"id\":\"" + r.id + "\",\"output_ids\":[1],\"finish_reason\":\"prefilled\"}");
                        }
                        await(() -> !heard[i].tokens().isEmpty(), "request " + i + "'s first token");
                    }
                    case "end" -> {
                        Routed r = routeOf(i, prompt, token);
                        ScriptedNode decoder = r.kind.equals("ON_PROMPT") ? prompt[r.promptMachine] : token[r.tokenMachine];
                        int[] output = new int[scenario[i][2]];
                        Arrays.fill(output, 1);
                        decoder.send("{\"id\":\"" + r.id + "\",\"output_ids\":" + Arrays.toString(output)
                                + ",\"finish_reason\":\"length\"}");
                        heard[i].result().get(WAIT_MS, TimeUnit.MILLISECONDS);
                    }
                    default -> { } // the simulator's decisions: the live engine makes its own
                }
            }
            for (int i = 0; i < scenario.length; i++) {
                if (!live.containsKey(i)) {
                    Routed r = routeOf(i, prompt, token);
                    live.put(i, r.kind + " " + r.promptMachine + " " + r.tokenMachine);
                }
            }
        }
        return live;
    }

    private record Routed(String id, String kind, int promptMachine, int tokenMachine) {
    }

    /** How the live engine routed request {@code i}, from the lines its nodes got (waiting for them a while). */
    private Routed routeOf(int i, ScriptedNode[] prompt, ScriptedNode[] token) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (System.currentTimeMillis() < deadline) {
            JsonNode onPrompt = null;
            JsonNode onToken = null;
            int p = -1;
            int t = -1;
            for (ScriptedNode n : prompt) {
                if (n.requests.containsKey(i)) {
                    onPrompt = n.requests.get(i);
                    p = n.machine;
                }
            }
            for (ScriptedNode n : token) {
                if (n.requests.containsKey(i)) {
                    onToken = n.requests.get(i);
                    t = n.machine;
                }
            }
            if (onPrompt != null && onPrompt.has("kv_to") && onToken != null) {
                return new Routed(onPrompt.get("id").asText(), "SPLIT", p, t);
            }
            if (onPrompt != null && !onPrompt.has("kv_to")) {
                return new Routed(onPrompt.get("id").asText(), "ON_PROMPT", p, -1);
            }
            if (onToken != null && !onToken.has("kv_transfer")) {
                return new Routed(onToken.get("id").asText(), "ON_TOKEN", -1, t);
            }
            Thread.sleep(2);
        }
        throw new AssertionError("request " + i + " reached no node within " + WAIT_MS + " ms");
    }

    private static void await(java.util.function.BooleanSupplier done, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!done.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError(what + " did not come within " + WAIT_MS + " ms");
            }
            Thread.sleep(1);
        }
    }

    /** A node's end of a pipe pair: the request lines the engine sent it, by request index; a way to answer. */
    private final class ScriptedNode {
        final boolean promptPool;
        final int machine;
        final NodeLink link;
        final PrintStream toEngine;
        final Map<Integer, JsonNode> requests = new ConcurrentHashMap<>();

        ScriptedNode(boolean promptPool, int machine) throws IOException {
            this.promptPool = promptPool;
            this.machine = machine;
            Pipe toNode = Pipe.open();
            Pipe fromNode = Pipe.open();
            link = new NodeLink((promptPool ? "prompt" : "token") + " machine " + machine,
                    Channels.newInputStream(fromNode.source()), Channels.newOutputStream(toNode.sink()));
            toEngine = new PrintStream(Channels.newOutputStream(fromNode.sink()), true, StandardCharsets.UTF_8);
            BufferedReader fromEngine = new BufferedReader(new InputStreamReader(Channels.newInputStream(toNode.source()),
                    StandardCharsets.UTF_8));
            Thread.ofPlatform().daemon().name("scripted-" + link.name()).start(() -> {
                try {
                    for (String line = fromEngine.readLine(); line != null; line = fromEngine.readLine()) {
                        JsonNode r = json.readTree(line);
                        if (r.has("input_ids")) {
                            requests.put(r.get("input_ids").get(0).asInt() - 100, r);
                        }
                    }
                } catch (IOException e) {
                    // the engine closed its end
                }
            });
        }

        void send(String line) {
            toEngine.println(line);
        }
    }
}
