package dev.tandem.transport;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Rows that live on a device: an Aeron endpoint DMAs them straight into the frames it claims and
 * out of the fragments it reads, any other transport through the batch's staging rows. The
 * "device" is {@link FakeDeviceCopies}, whose copies land only when awaited.
 */
class DeviceRowsTest
{
    private static final int HIDDEN = 4096;  // bf16: 8 KiB a row, so a frame spans many 8 KiB fragments
    private static final int MAX_TOKENS = 40;
    private static final int SENDER_BATCHES = 2; // M2nExchangeTest's micro-batches, each placed on the device

    private static M2nContext context(final List<String> log)
    {
        final long maxFrame = FrameFlyweight.frameLength(MAX_TOKENS, HIDDEN, Dtype.BF16);
        return M2nExchangeTest.context(HIDDEN, Dtype.BF16, MAX_TOKENS, TransportConfig.defaults()
            .withMtuAndTermLength(8192, TransportConfig.termLengthFor(maxFrame))).log(log::add);
    }

    private static FakeDeviceCopies[] devices(final int count, final boolean refuse)
    {
        final FakeDeviceCopies[] devices = new FakeDeviceCopies[count];
        for (int i = 0; i < count; i++)
        {
            devices[i] = new FakeDeviceCopies(refuse);
        }
        return devices;
    }

    @ParameterizedTest
    @EnumSource(value = LocalM2n.Kind.class, names = {"AERON_IPC", "AERON_UDP"})
    void shouldCarryDeviceRowsThroughTermBuffersAndUnlockThemAtClose(final LocalM2n.Kind kind) throws Exception
    {
        final List<String> log = new CopyOnWriteArrayList<>();
        final FakeDeviceCopies[] senders = devices(2, false);
        final FakeDeviceCopies[] receivers = devices(2, false);
        M2nExchangeTest.exchange(kind, 2, 2, context(log), 30, 21, senders, receivers); // many term rotations

        for (final FakeDeviceCopies device : senders)
        {
            assertTrue(device.registrations() > SENDER_BATCHES, "term buffers locked: " + device.registrations());
            assertEquals(SENDER_BATCHES, device.outstanding(), "only the batches' staging rows stay locked");
        }
        for (final FakeDeviceCopies device : receivers)
        {
            assertTrue(device.registrations() > 1, "term buffers locked: " + device.registrations());
            assertEquals(1, device.outstanding(), "only the gathered batch's staging rows stay locked");
        }
        assertTrue(log.stream().anyMatch(line -> line.contains("straight into and out of Aeron's term buffers")), log.toString());
    }

    @Test
    void shouldInteroperateWithHostRowsBothWays() throws Exception
    {
        final List<String> log = new CopyOnWriteArrayList<>();
        // device senders' self-made fragments read by host receivers, and Aeron's own fragments DMA'd onto devices
        M2nExchangeTest.exchange(LocalM2n.Kind.AERON_IPC, 2, 2, context(log), 12, 22, devices(2, false), null);
        M2nExchangeTest.exchange(LocalM2n.Kind.AERON_IPC, 2, 2, context(log), 12, 23, null, devices(2, false));
    }

    @Test
    void shouldFallBackToPinnedStagingWhenTermBuffersCannotBeLocked() throws Exception
    {
        final List<String> log = new CopyOnWriteArrayList<>();
        final FakeDeviceCopies[] senders = devices(2, true);
        M2nExchangeTest.exchange(LocalM2n.Kind.AERON_IPC, 2, 2, context(log), 12, 24, senders, devices(2, true));
        assertEquals(0, senders[0].registrations());
        assertTrue(log.stream().anyMatch(line -> line.contains("through the batches' pinned staging rows")), log.toString());
    }

    @Test
    void shouldStageDeviceRowsOverOtherTransports() throws Exception
    {
        final List<String> log = new CopyOnWriteArrayList<>();
        M2nExchangeTest.exchange(LocalM2n.Kind.NETTY_TCP, 2, 1, context(log), 6, 25, devices(2, false), devices(1, false));
    }

    @Test
    void shouldMoveAFrameOfManyFragmentsInTwoCopyCallsASide() throws Exception
    {
        final M2nContext ctx = context(new CopyOnWriteArrayList<>());
        final FakeDeviceCopies senderDevice = new FakeDeviceCopies(false);
        final FakeDeviceCopies receiverDevice = new FakeDeviceCopies(false);
        final int tokens = 21; // 21 rows of 8 KiB: 21 full 8160-byte fragments of device bytes and a partial one
        final long key = Pattern.mix(26, 0, 0, 0, 0);
        try (LocalM2n harness = new LocalM2n(LocalM2n.Kind.AERON_IPC, 1, 1, ctx))
        {
            final RowBatch sent = senderDevice.place(new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16));
            sent.layoutContiguous(new int[]{tokens});
            Pattern.fill(sent, 0, tokens, key);
            sent.stageToDevice();
            final int before = senderDevice.copyCalls();
            harness.sender(0).send(0, 0, 0, sent);
            assertEquals(2, senderDevice.copyCalls() - before, "the head in a fragment of its own, then one strided " +
                "run of full fragments and the last one");

            final RowBatch gathered = receiverDevice.place(new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16));
            harness.receiver(0).receive(0, 0, 0, gathered);
            assertEquals(2, receiverDevice.copyCalls(), "one strided run of full fragments and the last one");
            gathered.stageToHost();
            final RowBatch scratch = new RowBatch(1, MAX_TOKENS, HIDDEN, Dtype.BF16);
            assertNull(Pattern.check(gathered, 0, tokens, key, (byte)0, scratch, 0));
        }
    }

    @Test
    void shouldMergeFragmentsOneHeaderApartIntoOneStridedCopy()
    {
        final FakeDeviceCopies device = new FakeDeviceCopies(false);
        try (Arena arena = Arena.ofConfined())
        {
            final int width = 96;
            final int pitch = width + 32;
            final MemorySegment host = arena.allocate(pitch * 6L);
            final MemorySegment onDevice = arena.allocate(width * 6L);
            for (int i = 0; i < width * 6; i++)
            {
                onDevice.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte)i);
            }
            final DeviceCopyRuns runs = new DeviceCopyRuns();
            runs.add(device, false, host.address(), onDevice.address(), 40);                 // a first fragment's tail
            for (int f = 1; f < 5; f++)                                                        // the middle ones
            {
                runs.add(device, false, host.address() + (long)f * pitch, onDevice.address() + 40 + (f - 1) * width, width);
            }
            runs.add(device, false, host.address() + 5L * pitch, onDevice.address() + 40 + 4 * width, 17); // the last
            runs.await();
            assertEquals(3, device.copyCalls(), "first, middle run, last");
            for (int f = 1; f < 5; f++)
            {
                for (int b = 0; b < width; b++)
                {
                    assertEquals((byte)(40 + (f - 1) * width + b),
                        host.get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long)f * pitch + b), "fragment " + f + " byte " + b);
                }
            }
            runs.add(device, false, host.address(), onDevice.address(), width);
            runs.add(device, false, host.address() + 2L * pitch, onDevice.address() + width, width); // two headers on
            runs.await();
            assertEquals(5, device.copyCalls(), "pieces farther apart than one header (another term) are not merged");
        }
    }
}
