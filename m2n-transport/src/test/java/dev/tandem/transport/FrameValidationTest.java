package dev.tandem.transport;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;

import static java.nio.ByteOrder.LITTLE_ENDIAN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Codec round trip through a real buffer, and hostile frames thrown at the validator and gatherer. */
class FrameValidationTest
{
    private static final long EPOCH = 42;
    private static final int HIDDEN = 16;
    private static final int MAX_TOKENS = 8;
    private static final int PEERS = 3;
    private static final int FRAMES = 10_000;

    private final TransportCounters counters = new TransportCounters();
    private final FrameValidator validator =
        new FrameValidator(FrameFlyweight.TYPE_DISPATCH, HIDDEN, Dtype.BF16, PEERS, MAX_TOKENS, EPOCH);
    private final FrameGatherer gatherer = new FrameGatherer(validator, counters, PEERS, FrameGatherer.ARRIVAL_ORDER);
    private final RowBatch source = new RowBatch(PEERS, PEERS * MAX_TOKENS, HIDDEN, Dtype.BF16);
    private final RowBatch gathered = new RowBatch(PEERS, PEERS * MAX_TOKENS, HIDDEN, Dtype.BF16);
    private final UnsafeBuffer frameBuffer = new UnsafeBuffer(ByteBuffer.allocateDirect(4096));

    @Test
    void shouldRoundTripHeaderThroughBuffer()
    {
        final FrameFlyweight frame = new FrameFlyweight().wrap(frameBuffer, 32);
        frame.writeHeader(FrameFlyweight.TYPE_COMBINE, EPOCH, 1L << 40, 31, 3, 65535, 5, HIDDEN, Dtype.FP32);
        final FrameFlyweight read = new FrameFlyweight().wrap(frameBuffer, 32);
        assertEquals(FrameFlyweight.MAGIC, read.magic());
        assertEquals(0x54, frameBuffer.getByte(32), "magic is little-endian 'T' first");
        assertEquals(FrameFlyweight.TYPE_COMBINE, read.type());
        assertEquals(EPOCH, read.epoch());
        assertEquals(1L << 40, read.step());
        assertEquals(31, read.layer());
        assertEquals(3, read.microBatch());
        assertEquals(65535, read.senderId());
        assertEquals(5, read.tokenCount());
        assertEquals(Dtype.FP32, Dtype.fromCode(read.dtypeCode()));
        assertEquals(64 + 5 * HIDDEN * 4, read.payloadLength(), "routing 60 B padded to 64, then activations");
        assertEquals(0, FrameFlyweight.activationsOffset(5) % 16);
    }

    @Test
    void shouldAcceptValidFrame()
    {
        final int length = writeValidFrame(1, 4, 0);
        gatherer.begin(0, 0, 0, gathered, false);
        assertEquals(FrameGatherer.BREAK, gatherer.onFragment(1, frameBuffer, 0, length, FrameGatherer.UNFRAGMENTED));
        assertEquals(1, counters.accepted());
        assertEquals(4, gathered.peerRowCount(1));
    }

    @Test
    void shouldRejectFrameWithWrongEpoch()
    {
        final int length = writeValidFrame(0, 2, 0);
        new FrameFlyweight().wrap(frameBuffer, 0).epoch(EPOCH - 1);
        gatherer.begin(0, 0, 0, gathered, false);
        gatherer.onFragment(0, frameBuffer, 0, length, FrameGatherer.UNFRAGMENTED);
        assertEquals(1, counters.get(FrameCheck.BAD_EPOCH));
        assertEquals(0, counters.accepted());
    }

    @Test
    void shouldRejectFrameFromOtherPeerAndStaleFrame()
    {
        final int length = writeValidFrame(2, 1, 0);
        gatherer.begin(1, 0, 0, gathered, false);
        gatherer.onFragment(0, frameBuffer, 0, length, FrameGatherer.UNFRAGMENTED); // sender id 2 on peer 0's stream
        gatherer.onFragment(2, frameBuffer, 0, length, FrameGatherer.UNFRAGMENTED); // step 0 < 1
        assertEquals(1, counters.get(FrameCheck.BAD_SENDER));
        assertEquals(1, counters.get(FrameCheck.STALE));
    }

    @Test
    void shouldRejectRandomAndMutatedFramesWithoutCrashing()
    {
        final SplittableRandom random = new SplittableRandom(7);
        final FrameFlyweight frame = new FrameFlyweight();
        for (int i = 0; i < FRAMES; i++)
        {
            final int peer = random.nextInt(PEERS);
            final int validLength = writeValidFrame(peer, random.nextInt(MAX_TOKENS + 1), 0);
            int length = validLength;
            frame.wrap(frameBuffer, 0);
            switch (random.nextInt(12))
            {
                case 0 -> // random bytes of random length
                {
                    length = random.nextInt(600);
                    for (int b = 0; b < length; b++)
                    {
                        frameBuffer.putByte(b, (byte)random.nextInt());
                    }
                }
                case 1 -> frame.magic(random.nextInt() | 1);
                case 2 -> frame.version((short)(2 + random.nextInt(1000)));
                case 3 -> frame.epoch(EPOCH + 1 + random.nextInt(1000));
                case 4 -> frame.dtypeCode((byte)(3 + random.nextInt(100)));
                case 5 -> frame.tokenCount(frame.tokenCount() + 1 + random.nextInt(Integer.MAX_VALUE - 10));
                case 6 -> frame.payloadLength(frame.payloadLength() + 1 + random.nextInt(1 << 20));
                case 7 -> length = random.nextInt(validLength); // truncated
                case 8 -> length = validLength + 1 + random.nextInt(100); // trailing garbage
                case 9 -> frame.hiddenSize(random.nextInt());
                case 10 -> frame.type((byte)(2 + random.nextInt(100)));
                default -> frame.tokenCount(-1 - random.nextInt(Integer.MAX_VALUE));
            }
            gatherer.begin(0, 0, 0, gathered, false);
            final int action = gatherer.onFragment(peer, frameBuffer, 0, length, FrameGatherer.UNFRAGMENTED);
            assertEquals(FrameGatherer.CONTINUE, action, "mutation of frame " + i);
        }
        assertEquals(FRAMES, counters.rejected(), counters.toString());
        assertEquals(0, counters.accepted());

        final int length = writeValidFrame(0, 3, 0);
        gatherer.begin(0, 0, 0, gathered, false);
        assertEquals(FrameGatherer.BREAK, gatherer.onFragment(0, frameBuffer, 0, length, FrameGatherer.UNFRAGMENTED));
        assertEquals(1, counters.accepted(), "still accepts good frames afterwards");
    }

    @Test
    void shouldRejectFragmentedFrameWhoseLengthDisagrees()
    {
        final int length = writeValidFrame(0, MAX_TOKENS, 0);
        gatherer.begin(0, 0, 0, gathered, false);
        assertEquals(FrameGatherer.CONTINUE, gatherer.onFragment(0, frameBuffer, 0, 100, FrameGatherer.BEGIN_FLAG));
        assertEquals(FrameGatherer.CONTINUE, gatherer.onFragment(0, frameBuffer, 100, 50, (byte)0));
        assertEquals(FrameGatherer.CONTINUE, gatherer.onFragment(0, frameBuffer, 150, 10, FrameGatherer.END_FLAG));
        assertEquals(1, counters.get(FrameCheck.LENGTH_MISMATCH), "ended " + (length - 160) + " bytes early");
        assertEquals(0, gathered.rowCount(), "rows of the rejected frame given back");
        assertTrue(gatherer.isPending(0));
    }

    private int writeValidFrame(final int sender, final int tokens, final long step)
    {
        final int[] counts = new int[PEERS];
        counts[0] = tokens;
        source.layoutContiguous(counts);
        Pattern.fill(source, 0, tokens, step * 31 + sender);
        final FrameWriter writer = new FrameWriter(FrameFlyweight.TYPE_DISPATCH, sender, EPOCH);
        writer.writeFrame(frameBuffer, 0, step, 0, 0, source, 0);
        return FrameWriter.frameLength(source, 0);
    }
}
