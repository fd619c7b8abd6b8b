package dev.tandem.transport.kv;

import dev.tandem.transport.AeronNode;
import dev.tandem.transport.Dtype;
import dev.tandem.transport.TransportConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The KV path's hot loop allocates nothing once warm: rows copied from host memory into claims in
 * the log, received, and copied from the frames into other host memory, on one thread, in fp32 and
 * bf16. {@code com.sun.management.ThreadMXBean} counts the bytes this thread allocated.
 */
class KvAllocationTest
{
    private static final String CHANNEL = "aeron:ipc";
    private static final int STREAM = 3401;
    private static final int KV_DIM = 256;
    private static final int TOKENS = 40;          // messages of one claim each: several per layer
    private static final int WARM_UP = 3_000;
    private static final int MEASURED = 1_000;
    private static final long TRANSFER = 5;

    private final AeronNode node = AeronNode.launch(TransportConfig.defaults());

    @AfterEach
    void close()
    {
        node.close();
    }

    @Test
    void shouldSendAndDeliverLayersWithoutAllocatingOnceWarm()
    {
        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
        for (final Dtype dtype : new Dtype[]{Dtype.FP32, Dtype.BF16})
        {
            final long rowBytes = 2L * KV_DIM * dtype.bytes();
            final MemorySegment into = Arena.ofAuto().allocate(TOKENS * rowBytes);
            final long[] delivered = {0};
            final KvSink sink = new KvSink()
            {
                @Override
                public void layerArrived(
                    final long transferId, final int layer, final int firstPosition, final int count,
                    final MemorySegment rows, final long offset)
                {
                    MemorySegment.copy(rows, offset, into, 0, count * rowBytes);
                    delivered[0] += count;
                }

                @Override
                public void transferComplete(final long transferId, final int firstToken)
                {
                }

                @Override
                public void transferFailed(final long transferId, final String reason)
                {
                }
            };
            final HostKvRows rows = dtype == Dtype.FP32 ?
                HostKvRows.fp32(new float[TOKENS * KV_DIM], new float[TOKENS * KV_DIM], KV_DIM) :
                HostKvRows.bf16(new short[TOKENS * KV_DIM], new short[TOKENS * KV_DIM], KV_DIM);
            try (KvTransferReceiver receiver = new KvTransferReceiver(node.aeron(), CHANNEL, STREAM, 1, KV_DIM, dtype,
                TOKENS, sink);
                KvTransferSender sender = new KvTransferSender(node.aeron(), TransportConfig.defaults(),
                    List.of(CHANNEL), STREAM, KV_DIM, dtype, TOKENS, true).awaitConnected(TimeUnit.SECONDS.toNanos(5)))
            {
                long before = 0;
                for (int i = 0; i < WARM_UP + MEASURED; i++)
                {
                    if (i == WARM_UP)
                    {
                        before = threads.getCurrentThreadAllocatedBytes();
                    }
                    sender.sendLayer(0, TRANSFER, 0, 1, 0, TOKENS, rows);
                    final long expected = (long)(i + 1) * TOKENS;
                    while (delivered[0] < expected)
                    {
                        receiver.poll(64);
                    }
                }
                final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
                assertEquals((long)(WARM_UP + MEASURED) * TOKENS, delivered[0]);
                // one-offs (a JIT transition) come to about a KiB; one 16-byte object a message would be 32 KB
                assertTrue(allocated < 8 * 1024, dtype + ": " + allocated + " bytes allocated over " + MEASURED +
                    " layers of " + TOKENS + " positions");
                assertEquals(0, receiver.rejected());
            }
        }
    }
}
