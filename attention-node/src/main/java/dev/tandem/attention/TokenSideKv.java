package dev.tandem.attention;

import dev.tandem.core.TandemException;
import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.core.engine.GenerationListener;
import dev.tandem.core.engine.Generator;
import dev.tandem.core.engine.KvHandoff;
import dev.tandem.core.engine.Request;
import dev.tandem.core.engine.RequestHandle;
import dev.tandem.core.engine.Result;
import dev.tandem.core.kv.PagedKvCache;
import dev.tandem.transport.kv.KvSink;
import dev.tandem.transport.kv.KvTransferReceiver;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Function;

/**
 * A token machine's half of Splitwise's hand-off: requests whose prefill runs on a prompt machine
 * reserve their KV blocks here, receive each layer's keys and values as the prompt machine
 * computes them, and join this node's decode batch once the last layer and the first token land.
 *
 * <p>Requests arrive on the reader thread ({@link #submit}); everything else happens on the
 * stepping thread in {@link #poll}, which owns the cache. Rows that arrive before their request
 * (two channels race) wait in a small holding area until it is reserved.
 */
final class TokenSideKv implements KvSink {
    private static final int FRAGMENT_LIMIT = 64;

    private final Generator generator;
    private final KvHandoff handoff;
    private final PagedKvCache cache;
    private final KvTransferReceiver receiver;
    private final int contextLength;
    private final int kvDim;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final Map<Long, Incoming> incoming = new HashMap<>();        // transfer → its request, until resumed
    private final Queue<Incoming> awaitingBlocks = new ArrayDeque<>();  // reserved when blocks free up
    private final Map<Long, List<Rows>> early = new HashMap<>();        // rows of transfers not reserved yet
    private final Map<Long, End> earlyEnds = new HashMap<>();           // transfers that ended before their request
    private final Set<Long> dropped = boundedSet(4_096);                // cancelled: their late rows are ignored

    /** A request waiting for its KV. */
    private static final class Incoming {
        final long transfer;
        final Request request;
        final GenerationListener listener;
        boolean reserved;
        int firstToken = -1;   // set when the transfer completed before the blocks were reserved
        RequestHandle resumed;

        Incoming(long transfer, Request request, GenerationListener listener) {
            this.transfer = transfer;
            this.request = request;
            this.listener = listener;
        }
    }

    /** How a transfer ended before its request arrived: its first token, or why it failed (then non-null). */
    private record End(int firstToken, String failure) {
    }

    /** Rows that came before their blocks: a copy of the frame's rows, off the heap. */
    private record Rows(int layer, int firstPosition, int count, MemorySegment rows) {
    }

    /** @param receiverFactory makes the receiver with this object as its sink */
    TokenSideKv(Generator generator, PagedKvCache cache, KvHandoff handoff, int contextLength, int kvDim,
                Function<KvSink, KvTransferReceiver> receiverFactory) {
        this.generator = generator;
        this.handoff = handoff;
        this.cache = cache;
        this.contextLength = contextLength;
        this.kvDim = kvDim;
        this.receiver = receiverFactory.apply(this);
    }

    /** Takes a request whose KV comes in transfer {@code transfer}; any thread. */
    RequestHandle submit(long transfer, Request request, GenerationListener listener) {
        if (request.maxTokens() < 1) {
            throw new TandemException("a request prefilled elsewhere needs max_tokens >= 1");
        }
        Incoming in = new Incoming(transfer, request, listener);
        tasks.add(() -> arrive(in));
        return () -> tasks.add(() -> cancel(in));
    }

    /** One duty cycle on the stepping thread: new requests and cancels, then arrived KV; the work done. */
    int poll() {
        int work = 0;
        for (Runnable task = tasks.poll(); task != null; task = tasks.poll()) {
            task.run();
            work++;
        }
        for (Iterator<Incoming> it = awaitingBlocks.iterator(); it.hasNext(); ) {
            Incoming in = it.next();
            if (!reserve(in)) {
                break; // first come, first served
            }
            it.remove();
            work++;
        }
        return work + receiver.poll(FRAGMENT_LIMIT);
    }

    /** Transfers still waiting for their KV. */
    boolean hasWork() {
        return !incoming.isEmpty() || !tasks.isEmpty();
    }

    private void arrive(Incoming in) {
        End end = earlyEnds.remove(in.transfer);
        if (end != null && end.failure() != null) {
            early.remove(in.transfer);
            in.listener.onError("KV transfer " + in.transfer + " failed: " + end.failure());
            return;
        }
        if (end != null) {
            in.firstToken = end.firstToken(); // resumed once its blocks are reserved
        }
        incoming.put(in.transfer, in);
        if (!awaitingBlocks.isEmpty() || !reserve(in)) {
            awaitingBlocks.add(in);
        }
    }

    private boolean reserve(Incoming in) {
        // the prompt and the first token's slot; the generator takes more blocks as the sequence grows
        int total = Math.min(in.request.positions(contextLength), in.request.prompt().length + 1);
        if (!handoff.reserve(in.transfer, total)) {
            return false;
        }
        in.reserved = true;
        for (Rows r : early.getOrDefault(in.transfer, List.of())) {
            handoff.write(in.transfer, r.layer, r.firstPosition, r.count, r.rows, 0);
        }
        early.remove(in.transfer);
        if (in.firstToken >= 0) {
            resume(in, in.firstToken);
        }
        return true;
    }

    private void cancel(Incoming in) {
        if (in.resumed != null) {
            in.resumed.cancel();
            return;
        }
        if (incoming.remove(in.transfer) == null) {
            return; // already ended
        }
        awaitingBlocks.remove(in);
        handoff.release(in.transfer);
        early.remove(in.transfer);
        receiver.forget(in.transfer); // its prompt machine may be gone mid-way
        dropped.add(in.transfer);
        in.listener.onDone(new Result(new int[0], null, "cancelled"));
    }

    /** The most recent {@code capacity} ids: a late row comes within seconds of its cancel, not thousands of cancels later. */
    private static Set<Long> boundedSet(int capacity) {
        return java.util.Collections.newSetFromMap(new java.util.LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
                return size() > capacity;
            }
        });
    }

    @Override
    public void layerArrived(long transfer, int layer, int firstPosition, int count, MemorySegment rows, long offset) {
        if (dropped.contains(transfer)) {
            return;
        }
        Incoming in = incoming.get(transfer);
        if (in != null && in.reserved) {
            handoff.write(transfer, layer, firstPosition, count, rows, offset);
        } else {
            // the frame is Aeron's again after this call; rows this early are rare (two channels racing)
            long bytes = 2L * count * kvDim * handoff.elementBytes();
            MemorySegment copy = Arena.ofAuto().allocate(bytes, 64);
            MemorySegment.copy(rows, offset, copy, 0, bytes);
            early.computeIfAbsent(transfer, t -> new ArrayList<>()).add(new Rows(layer, firstPosition, count, copy));
        }
    }

    @Override
    public DeviceCopies deviceCopies() {
        return handoff.deviceCopies();
    }

    @Override
    public long deviceLanding(int slot, long bytes) {
        return handoff.landing(slot, bytes);
    }

    @Override
    public void layerLanded(long transfer, int layer, int firstPosition, int count, int slot) {
        if (dropped.contains(transfer)) {
            return;
        }
        Incoming in = incoming.get(transfer);
        if (in != null && in.reserved) {
            handoff.writeLanded(transfer, layer, firstPosition, count, slot);
        } else {
            // the slot is overwritten by the sender's next message; rows this early are rare
            long bytes = 2L * count * kvDim * handoff.elementBytes();
            MemorySegment copy = Arena.ofAuto().allocate(bytes, 64);
            handoff.copyLandedToHost(slot, bytes, copy);
            early.computeIfAbsent(transfer, t -> new ArrayList<>()).add(new Rows(layer, firstPosition, count, copy));
        }
    }

    @Override
    public void transferComplete(long transfer, int firstToken) {
        Incoming in = incoming.get(transfer);
        if (in == null) {
            if (!dropped.contains(transfer)) { // else cancelled meanwhile
                earlyEnds.put(transfer, new End(firstToken, null)); // the whole transfer beat its request here
            }
            return;
        }
        if (!in.reserved) {
            in.firstToken = firstToken; // resumed once its blocks are reserved
            return;
        }
        resume(in, firstToken);
    }

    private void resume(Incoming in, int firstToken) {
        incoming.remove(in.transfer);
        var blocks = handoff.take(in.transfer);
        try {
            in.resumed = generator.resume(in.request, blocks, firstToken, in.listener);
        } catch (TandemException e) {
            cache.release(blocks); // resume refused them: still ours
            in.listener.onError(e.getMessage());
        }
    }

    @Override
    public void transferFailed(long transfer, String reason) {
        Incoming in = incoming.remove(transfer);
        if (in == null) {
            if (!dropped.contains(transfer)) {
                earlyEnds.put(transfer, new End(-1, reason));
            }
            return;
        }
        awaitingBlocks.remove(in);
        handoff.release(transfer);
        early.remove(transfer);
        in.listener.onError("KV transfer " + transfer + " failed: " + reason);
    }

    void close() {
        receiver.close();
    }
}
