package dev.tandem.scheduler.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.RequestLines;
import dev.tandem.core.engine.Result;
import dev.tandem.scheduler.engine.CompletionEngine;
import dev.tandem.scheduler.engine.EngineRejectedException;
import dev.tandem.scheduler.engine.ServedModel;
import dev.tandem.scheduling.Route;
import dev.tandem.scheduling.SplitwisePolicy;
import dev.tandem.scheduling.WaitingRequests;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The scheduler's view of a Splitwise cluster: prompt machines (colocated processes) and token
 * machines (the attention nodes of AFD groups), each behind a {@link NodeLink}. Requests wait in
 * one queue until {@link SplitwisePolicy} finds them room, then go out as request lines; the
 * nodes' token lines come back to the request's listener in order. A machine that goes down is
 * never chosen again, and its requests run once more on the machines left ({@link Flight}). One
 * lock guards it all: the work under it is bookkeeping, never compute.
 */
public final class ClusterEngine implements CompletionEngine {
    private static final int MAX_RETRIES = 1;

    private final ServedModel served;
    private final List<NodeLink> promptNodes;
    private final NodeLink[] tokenNodes; // a machine's link is replaced when its group is restarted
    private final SplitwisePolicy policy;
    private final WaitingRequests<Flight> waiting;
    private final Map<String, Flight> flights = new HashMap<>();
    private final AtomicLong nextId = new AtomicLong();
    private final Map<Route.Kind, Long> routed = new java.util.EnumMap<>(Route.Kind.class);
    private final ObjectMapper json = new ObjectMapper();
    private boolean closed;

    /**
     * @param promptKvTokens       KV positions of each prompt machine
     * @param tokenKvTokens        KV positions of each token machine
     * @param mixedThresholdTokens pending prompt tokens past which machines are lent to the mixed pool
     * @param maxQueued            requests waiting for room before new ones get 429
     */
    public ClusterEngine(ServedModel served, List<NodeLink> promptNodes, long[] promptKvTokens,
                         List<NodeLink> tokenNodes, long[] tokenKvTokens, long mixedThresholdTokens, int maxQueued) {
        this.served = served;
        this.promptNodes = List.copyOf(promptNodes);
        this.tokenNodes = tokenNodes.toArray(NodeLink[]::new);
        this.policy = new SplitwisePolicy(promptKvTokens, tokenKvTokens, mixedThresholdTokens);
        this.waiting = new WaitingRequests<>(maxQueued);
        for (int i = 0; i < promptNodes.size(); i++) {
            int machine = i;
            promptNodes.get(i).start(line -> fromPromptNode(machine, line), reason -> promptNodeLost(machine, reason));
        }
        for (int i = 0; i < this.tokenNodes.length; i++) {
            listen(i, this.tokenNodes[i]);
        }
    }

    @Override
    public ServedModel model() {
        return served;
    }

    @Override
    public synchronized RequestHandle submit(Request request, GenerationListener listener) {
        validate(request);
        if (closed || !policy.anyMachineAlive()) {
            throw new EngineRejectedException(503, 0, closed ? "the scheduler is shutting down"
                    : "no prompt or token machine is alive");
        }
        if (request.maxTokens() == 0) {
            listener.onDone(new Result(new int[0], null, "length"));
            return () -> { };
        }
        Flight f = new Flight("c" + nextId.incrementAndGet(), request, listener);
        if (!waiting.offer(f)) {
            throw new EngineRejectedException(429, 1, waiting.size() + " requests are already waiting for a machine"
                    + " with room; retry later");
        }
        dispatch();
        return () -> cancel(f);
    }

    private void validate(Request request) {
        int[] prompt = request.prompt();
        if (prompt.length == 0 || prompt.length >= served.contextLength()) {
            throw new TandemException("the prompt has " + prompt.length + " tokens; the model takes 1 to "
                    + (served.contextLength() - 1));
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= served.vocabSize()) {
                throw new TandemException("token id " + prompt[i] + " at index " + i
                        + " is outside the vocabulary [0, " + served.vocabSize() + ")");
            }
        }
        if (prompt.length + 1L > policy.largestKv()) { // it would wait forever
            throw new TandemException("the prompt has " + prompt.length + " tokens; the largest machine's KV cache holds "
                    + policy.largestKv() + " positions, the prompt and its first token need " + (prompt.length + 1));
        }
    }

    /** Sends out every waiting request that has room now, in arrival order. */
    private void dispatch() {
        waiting.routeWaiting(policy, f -> f.request.prompt().length, f -> f.request.positions(served.contextLength()),
                this::sendOut);
    }

    /** A routed request out to its machines: both ends of a split, or the one machine of the mixed pool. */
    private void sendOut(Flight f, Route route) {
        f.listener.onAdmitted(new int[0]); // out of the scheduler's queue; the machines hold its blocks
        f.route = route;
        routed.merge(route.kind(), 1L, Long::sum);
        flights.put(f.id, f);
        ObjectNode line = RequestLines.write(f.request, json.createObjectNode().put("id", f.id)).put("stream", true);
        switch (route.kind()) {
            case SPLIT -> {
                long transfer = nextId.incrementAndGet();
                send(tokenNodes[route.tokenMachine()], line.deepCopy().put("kv_transfer", transfer), f);
                send(promptNodes.get(route.promptMachine()), line.put("kv_to", route.tokenMachine())
                        .put("kv_transfer", transfer), f);
            }
            case ON_PROMPT -> send(promptNodes.get(route.promptMachine()), line, f);
            case ON_TOKEN -> send(tokenNodes[route.tokenMachine()], line, f);
        }
    }

    private void send(NodeLink node, JsonNode line, Flight f) {
        if (!node.send(line)) {
            fail(f, node.name() + " cannot take requests (its input is closed)");
        }
    }

    private synchronized void fromPromptNode(int machine, JsonNode line) {
        if (line.path("node_failed").asBoolean(false)) {
            promptNodeLost(machine, promptNodes.get(machine).name() + " failed: " + line.path("error").asText());
            return;
        }
        Flight f = flights.get(line.path("id").asText());
        if (f == null || f.ended) {
            return;
        }
        if (line.has("token")) {
            int token = line.get("token").asInt();
            if (f.firstToken < 0) {
                first(f, token);
            } else {
                deliver(f, token);
            }
        } else if (line.has("error")) {
            fail(f, promptNodes.get(machine).name() + ": " + line.get("error").asText());
        } else if (f.route.kind() == Route.Kind.ON_PROMPT) {
            end(f, outputIds(line), line.path("finish_reason").asText());
        } else if (!"prefilled".equals(line.path("finish_reason").asText())) {
            // stopped before its KV went out (cancelled): the token machine must free its blocks
            tokenNodes[f.route.tokenMachine()].send(json.createObjectNode().put("cancel", f.id));
        }
    }

    /** Lines and loss from token machine {@code machine}'s {@code link}; once the link is replaced, the old one's are dropped. */
    private void listen(int machine, NodeLink link) {
        link.start(line -> fromTokenNode(machine, link, line), reason -> tokenNodeLost(machine, link, reason));
    }

    private synchronized void fromTokenNode(int machine, NodeLink link, JsonNode line) {
        if (tokenNodes[machine] != link) {
            return;
        }
        if (line.path("node_failed").asBoolean(false)) {
            tokenNodeLost(machine, link, link.name() + " failed: " + line.path("error").asText());
            return;
        }
        Flight f = flights.get(line.path("id").asText());
        if (f == null || f.ended) {
            return;
        }
        boolean split = f.route.kind() == Route.Kind.SPLIT;
        if (line.has("token")) {
            int token = line.get("token").asInt();
            if (!split && f.firstToken < 0) {
                first(f, token);
            } else if (f.firstToken < 0) {
                f.early.add(token);
            } else {
                deliver(f, token);
            }
        } else if (line.has("error")) {
            fail(f, link.name() + ": " + line.get("error").asText());
        } else if (!split) {
            end(f, outputIds(line), line.path("finish_reason").asText());
        } else if (f.firstToken < 0) {
            f.earlyOutput = outputIds(line);
            f.earlyFinish = line.path("finish_reason").asText();
            if (f.earlyFinish.equals("cancelled")) {
                end(f, new int[0], "cancelled");
            }
        } else {
            end(f, outputIds(line), line.path("finish_reason").asText());
        }
    }

    /** The first token: prefill is done, its prompt machine's queue shrinks, and tokens held back follow. */
    private void first(Flight f, int token) {
        f.firstToken = token;
        f.prefillDone = true;
        policy.prefillDone(f.route);
        deliver(f, token);
        for (int early : f.early) {
            deliver(f, early);
        }
        f.early.clear();
        if (f.earlyOutput != null) {
            end(f, f.earlyOutput, f.earlyFinish);
        }
        dispatch();
    }

    private void deliver(Flight f, int token) {
        if (f.ended) {
            return;
        }
        boolean heard;
        try {
            heard = f.accept(token);
        } catch (IllegalStateException e) {
            fail(f, e.getMessage());
            return;
        }
        if (heard) {
            f.listener.onToken(token);
        }
    }

    private void end(Flight f, int[] output, String finishReason) {
        f.ended = true;
        flights.remove(f.id);
        policy.finished(f.route, f.prefillDone);
        f.listener.onDone(new Result(output, null, finishReason));
        dispatch();
    }

    private void fail(Flight f, String reason) {
        if (f.ended) {
            return;
        }
        f.ended = true;
        flights.remove(f.id);
        if (f.route != null) {
            policy.finished(f.route, f.prefillDone);
            cancelOnNodes(f);
        }
        f.listener.onError(reason);
    }

    private synchronized void cancel(Flight f) {
        if (f.ended) {
            return;
        }
        if (f.route == null) {
            waiting.remove(f);
            f.ended = true;
            f.listener.onDone(new Result(new int[0], null, "cancelled"));
            return;
        }
        cancelOnNodes(f); // the nodes answer with finish reason "cancelled" once the blocks are free
    }

    private void cancelOnNodes(Flight f) {
        JsonNode cancel = json.createObjectNode().put("cancel", f.id);
        if (f.route.promptMachine() >= 0 && policy.promptMachineAlive(f.route.promptMachine())) {
            promptNodes.get(f.route.promptMachine()).send(cancel);
        }
        if (f.route.tokenMachine() >= 0 && policy.tokenMachineAlive(f.route.tokenMachine())) {
            tokenNodes[f.route.tokenMachine()].send(cancel);
        }
    }

    private synchronized void promptNodeLost(int machine, String reason) {
        if (!policy.promptMachineLost(machine)) {
            return;
        }
        for (Flight f : List.copyOf(flights.values())) {
            if (f.route.promptMachine() == machine && !(f.prefillDone && f.route.kind() == Route.Kind.SPLIT)) {
                retryOrFail(f, reason);
            }
        }
        failWaitingIfNoneAlive(reason);
    }

    /**
     * Token machines known lost from outside the links, e.g. by the launcher that saw their group's
     * expert node exit (its attention nodes would notice only when Aeron gives the peer up, seconds
     * later): their requests run again elsewhere at once, and they are never chosen again.
     */
    public synchronized void tokenMachinesLost(int[] machines, String reason) {
        for (int machine : machines) {
            tokenNodeLost(machine, tokenNodes[machine], reason);
        }
    }

    /**
     * Token machines back, each on a new link (their group restarted by the launcher, under a new
     * cluster epoch): chosen again from now on, with their whole KV free; the old links are closed.
     */
    public synchronized void tokenMachinesRejoined(int[] machines, List<NodeLink> links) {
        for (int i = 0; i < machines.length; i++) {
            int machine = machines[i];
            NodeLink old = tokenNodes[machine];
            tokenNodes[machine] = links.get(i);
            old.close();
            policy.tokenMachineRejoined(machine);
            listen(machine, links.get(i));
        }
        if (!closed) {
            dispatch();
        }
    }

    private synchronized void tokenNodeLost(int machine, NodeLink link, String reason) {
        if (tokenNodes[machine] != link || !policy.tokenMachineLost(machine)) {
            return;
        }
        for (Flight f : List.copyOf(flights.values())) {
            if (f.route.tokenMachine() == machine) {
                retryOrFail(f, reason);
            }
        }
        failWaitingIfNoneAlive(reason);
    }

    /**
     * A request whose machine was lost runs again from its prompt on the machines left, once
     * (ahead of the waiting ones); it fails if none is left or it was already retried.
     */
    private void retryOrFail(Flight f, String reason) {
        if (f.ended || f.retries >= MAX_RETRIES || closed || !policy.anyMachineAlive()) {
            fail(f, reason);
            return;
        }
        flights.remove(f.id);
        policy.finished(f.route, f.prefillDone);
        cancelOnNodes(f);
        f.retryAs("c" + nextId.incrementAndGet());
        System.err.println("tandem: " + reason + "; running its request again as " + f.id);
        waiting.addFirst(f);
        dispatch();
    }

    private void failWaitingIfNoneAlive(String reason) {
        if (!policy.anyMachineAlive()) {
            for (Flight f = waiting.poll(); f != null; f = waiting.poll()) {
                fail(f, reason);
            }
        }
    }

    private static int[] outputIds(JsonNode line) {
        JsonNode ids = line.path("output_ids");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i).asInt();
        }
        return out;
    }

    @Override
    public synchronized boolean healthy() {
        return !closed && policy.anyMachineAlive();
    }

    /** How many requests went each way since the start: split, or whole on a machine lent to the mixed pool. */
    public synchronized Map<Route.Kind, Long> routed() {
        return Map.copyOf(routed);
    }

    @Override
    public synchronized Map<String, int[]> machines() {
        return Map.of("prompt", policy.promptMachinesAlive(), "token", policy.tokenMachinesAlive());
    }

    @Override
    public synchronized Map<String, Integer> queueDepths() {
        int prompt = 0;
        int token = 0;
        for (Flight f : flights.values()) {
            if (!f.prefillDone) {
                prompt++;
            } else {
                token++;
            }
        }
        return Map.of("waiting", waiting.size(), "prefill", prompt, "decode", token,
                "mixed_machines", policy.machinesIn(SplitwisePolicy.Pool.MIXED));
    }

    @Override
    public synchronized void close() {
        closed = true;
        for (Flight f = waiting.poll(); f != null; f = waiting.poll()) {
            fail(f, "the scheduler is shutting down");
        }
        for (Flight f : List.copyOf(flights.values())) {
            fail(f, "the scheduler is shutting down");
        }
        promptNodes.forEach(NodeLink::close);
        for (NodeLink link : tokenNodes) {
            link.close();
        }
    }
}
