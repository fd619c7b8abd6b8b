package dev.tandem.transport.kv;

import dev.tandem.core.compute.DeviceCopies;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.FakeDeviceCopies;
import dev.tandem.transport.TransportConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * KV rows that live on a device on both machines: the sender DMAs each message's rows from the
 * device straight into the fragments it claims, the receiver DMAs each fragment's rows out of the
 * term buffer into its sender's landing area on the device. The "devices" are
 * {@link FakeDeviceCopies}, whose copies land only when awaited, so a side that commits, hands
 * over or gives a log back before its copies are done sees stale bytes.
 */
class KvDeviceRowsTest
{
    private static final String CHANNEL = "aeron:ipc";
    private static final int STREAM = 3101;
    private static final int LAYERS = 3;
    private static final int KV_DIM = 1024;   // fp32: 8 KiB a position, so a message spans many 8 KiB fragments
    private static final int PER_MESSAGE = 40; // 320 KiB a message
    private static final int TOKENS = 100;    // 40 + 40 + 20 a layer
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(5);

    private final AeronNode node = AeronNode.launch(TransportConfig.defaults());
    private final List<String> log = new CopyOnWriteArrayList<>();

    @AfterEach
    void close()
    {
        node.close();
    }

    /** A prompt machine's rows: host copies to check against, and the same rows "on the device" that gathers read. */
    private record Prompt(float[] keys, float[] values, HostKvRows rows)
    {
        static Prompt random(final long seed)
        {
            final SplittableRandom random = new SplittableRandom(seed);
            final float[] keys = new float[LAYERS * TOKENS * KV_DIM];
            final float[] values = new float[keys.length];
            for (int i = 0; i < keys.length; i++)
            {
                keys[i] = (float)random.nextGaussian();
                values[i] = (float)random.nextGaussian();
            }
            return new Prompt(keys, values, HostKvRows.fp32(keys, values, KV_DIM));
        }
    }

    /** A sink on a device: each landing area device memory of its own, the landed rows recorded as the host sink's. */
    private static final class DeviceSink extends RecordingSink
    {
        private final FakeDeviceCopies device;
        private final List<MemorySegment> areas = new ArrayList<>();
        int landed;

        DeviceSink(final FakeDeviceCopies device)
        {
            super(KV_DIM, Float.BYTES);
            this.device = device;
        }

        @Override
        public DeviceCopies deviceCopies()
        {
            return device;
        }

        @Override
        public long deviceLanding(final int slot, final long bytes)
        {
            while (areas.size() <= slot)
            {
                areas.add(null);
            }
            if (areas.get(slot) == null || areas.get(slot).byteSize() < bytes)
            {
                areas.set(slot, Arena.ofAuto().allocate(bytes, 64));
            }
            return areas.get(slot).address();
        }

        @Override
        public void layerLanded(final long transferId, final int layer, final int firstPosition, final int count,
            final int slot)
        {
            landed++;
            layerArrived(transferId, layer, firstPosition, count, areas.get(slot), 0);
        }
    }

    private KvTransferSender sender(final int stream, final FakeDeviceCopies device)
    {
        final KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(),
            List.of(CHANNEL), stream, KV_DIM, Dtype.FP32, PER_MESSAGE).awaitConnected(CONNECT_TIMEOUT_NS);
        awaitImages(stream, receivers.get(stream));
        if (device != null)
        {
            final MemorySegment rows = Arena.ofAuto().allocate(KvLayerFlyweight.payloadLength(PER_MESSAGE, KV_DIM,
                Dtype.FP32), 64);
            sender.sendFromDevice(device, null, rows.address(), log::add);
            deviceRows.add(rows);
        }
        return sender;
    }

    private final List<MemorySegment> deviceRows = new ArrayList<>(); // each device sender's gather area
    private final java.util.Map<Integer, KvTransferReceiver> receivers = new java.util.HashMap<>();
    private final java.util.Map<Integer, Integer> senders = new java.util.HashMap<>();

    private KvTransferReceiver receiver(final int stream, final KvSink sink)
    {
        final KvTransferReceiver receiver = new KvTransferReceiver(node.aeron(), CHANNEL, stream, LAYERS, KV_DIM,
            Dtype.FP32, PER_MESSAGE, sink);
        receivers.put(stream, receiver);
        return receiver;
    }

    /**
     * Until the receiver has every sender's image: the test thread both sends and polls, so a layer
     * sent before the image appears would be read by no poll, and the window would fill.
     */
    private void awaitImages(final int stream, final KvTransferReceiver receiver)
    {
        final int expected = senders.merge(stream, 1, Integer::sum);
        final long deadlineNs = System.nanoTime() + CONNECT_TIMEOUT_NS;
        while (receiver.images() < expected)
        {
            assertTrue(System.nanoTime() < deadlineNs, "the receiver sees its senders' images within 5 s");
            Thread.onSpinWait();
        }
    }

    /** Every layer of {@code prompt} as transfer {@code id}, its rows gathered into the sender's device rows first. */
    private void send(final KvTransferSender sender, final int senderIndex, final long id, final Prompt prompt,
        final int layer)
    {
        final HostKvRows layerRows = prompt.rows().layer(layer, TOKENS, KV_DIM);
        sender.sendLayer(0, id, layer, LAYERS, 0, TOKENS, senderIndex < 0 ? layerRows :
            layerRows.gatheringInto(deviceRows.get(senderIndex)));
    }

    /**
     * Every layer of {@code prompt} as transfer {@code id}, then its end with {@code firstToken};
     * polled a layer at a time (one thread for both ends: within the publication's window), until
     * {@code sink} saw the end.
     */
    private void transfer(final KvTransferReceiver receiver, final KvTransferSender sender, final int senderIndex,
        final long id, final Prompt prompt, final int firstToken, final RecordingSink sink)
    {
        for (int layer = 0; layer < LAYERS; layer++)
        {
            send(sender, senderIndex, id, prompt, layer);
            drain(receiver);
        }
        sender.sendComplete(0, id, LAYERS, TOKENS, firstToken);
        RecordingSink.pollUntil(receiver, () -> !sink.completed.isEmpty());
    }

    /** Polls until a poll finds nothing. */
    private static void drain(final KvTransferReceiver receiver)
    {
        while (receiver.poll(64) > 0)
        {
            Thread.onSpinWait();
        }
    }

    private static void assertDelivered(final RecordingSink sink, final long id, final Prompt prompt)
    {
        final float[] keys = new float[LAYERS * TOKENS * KV_DIM];
        final float[] values = new float[keys.length];
        int rows = 0;
        for (final RecordingSink.Rows r : sink.rows)
        {
            if (r.transferId() != id)
            {
                continue;
            }
            final int at = (r.layer() * TOKENS + r.firstPosition()) * KV_DIM;
            System.arraycopy(r.floats(0), 0, keys, at, r.count() * KV_DIM);
            System.arraycopy(r.floats(1), 0, values, at, r.count() * KV_DIM);
            rows += r.count();
        }
        assertEquals(LAYERS * TOKENS, rows, "every layer's rows of transfer " + id);
        assertArrayEquals(prompt.keys(), keys, "keys of transfer " + id);
        assertArrayEquals(prompt.values(), values, "values of transfer " + id);
    }

    @Test
    void shouldCarryRowsFromDeviceToDeviceThroughTheTermBuffersAndUnlockThemAtClose()
    {
        final FakeDeviceCopies promptDevice = new FakeDeviceCopies(false);
        final FakeDeviceCopies tokenDevice = new FakeDeviceCopies(false);
        final DeviceSink sink = new DeviceSink(tokenDevice);
        final Prompt prompt = Prompt.random(1);
        try (KvTransferReceiver receiver = receiver(STREAM, sink);
            KvTransferSender sender = sender(STREAM, promptDevice))
        {
            transfer(receiver, sender, 0, 7, prompt, 11, sink);
            assertEquals(0, receiver.rejected());
            assertArrayEquals(new long[]{7, 11}, sink.completed.get(0));
            assertEquals(LAYERS * 3, sink.landed, "three messages a layer, each landed on the device");
            assertTrue(promptDevice.registrations() > 0 && tokenDevice.registrations() > 0, "term buffers page-locked");
        }
        assertDelivered(sink, 7, prompt);
        assertEquals(0, promptDevice.outstanding(), "the sender's terms unlocked at close");
        assertEquals(0, tokenDevice.outstanding(), "the receiver's terms unlocked at close");
        assertTrue(log.stream().anyMatch(line -> line.contains("straight into and out of Aeron's term buffers")), log.toString());
    }

    @Test
    void shouldKeepTwoPromptMachinesMessagesApartWhenTheyInterleave()
    {
        final FakeDeviceCopies tokenDevice = new FakeDeviceCopies(false);
        final DeviceSink sink = new DeviceSink(tokenDevice);
        final Prompt first = Prompt.random(2);
        final Prompt second = Prompt.random(3);
        try (KvTransferReceiver receiver = receiver(STREAM, sink);
            KvTransferSender a = sender(STREAM, new FakeDeviceCopies(false));
            KvTransferSender b = sender(STREAM, new FakeDeviceCopies(false)))
        {
            for (int layer = 0; layer < LAYERS; layer++)
            {
                send(a, 0, 21, first, layer); // both publish before the receiver reads: their fragments interleave in its polls
                send(b, 1, 22, second, layer);
                drain(receiver);
            }
            a.sendComplete(0, 21, LAYERS, TOKENS, 1);
            b.sendComplete(0, 22, LAYERS, TOKENS, 2);
            RecordingSink.pollUntil(receiver, () -> sink.completed.size() == 2);
            assertEquals(0, receiver.rejected());
        }
        assertDelivered(sink, 21, first);
        assertDelivered(sink, 22, second);
    }

    @Test
    void shouldInteroperateWithHostRowsBothWays()
    {
        final Prompt prompt = Prompt.random(4);
        final RecordingSink hostSink = new RecordingSink(KV_DIM, Float.BYTES);
        try (KvTransferReceiver receiver = receiver(STREAM, hostSink);
            KvTransferSender sender = sender(STREAM, new FakeDeviceCopies(false)))
        {
            transfer(receiver, sender, 0, 31, prompt, 0, hostSink);
        }
        assertDelivered(hostSink, 31, prompt);

        final DeviceSink deviceSink = new DeviceSink(new FakeDeviceCopies(false));
        try (KvTransferReceiver receiver = receiver(STREAM + 1, deviceSink);
            KvTransferSender sender = sender(STREAM + 1, null))
        {
            transfer(receiver, sender, -1, 32, prompt, 0, deviceSink);
        }
        assertDelivered(deviceSink, 32, prompt);
    }

    @Test
    void shouldFallBackWhenTermBuffersCannotBeLocked()
    {
        final Prompt prompt = Prompt.random(5);
        final DeviceSink sink = new DeviceSink(new FakeDeviceCopies(true));
        try (KvTransferReceiver receiver = receiver(STREAM, sink);
            KvTransferSender sender = sender(STREAM, new FakeDeviceCopies(true)))
        {
            transfer(receiver, sender, 0, 41, prompt, 0, sink);
        }
        assertDelivered(sink, 41, prompt);
        assertTrue(log.stream().anyMatch(line -> line.contains("through the sender's pinned staging frame")), log.toString());
    }
}
