package dev.tandem.transport;

import io.aeron.Aeron;

/**
 * {@link M2nReceiver} over Aeron: one subscription for all senders' dispatches (an image per
 * sender, told apart by session id), one exclusive publication back to each sender. The Aeron
 * client is the caller's (see {@link AeronNode}) and outlives this receiver.
 */
public final class AeronM2nReceiver implements M2nReceiver
{
    private final AeronEndpoint endpoint;
    private final int receiverId;
    private final int senderCount;

    public AeronM2nReceiver(final M2nContext ctx, final Aeron aeron, final int receiverId)
    {
        this.endpoint = new AeronEndpoint(ctx, aeron, receiverId, false);
        this.receiverId = receiverId;
        this.senderCount = ctx.topology().senderCount();
    }

    /** Wait until every sender is reachable both ways; a deployment calls this once at start. */
    public AeronM2nReceiver awaitConnected(final long timeoutNs)
    {
        endpoint.awaitConnected(timeoutNs);
        return this;
    }

    @Override
    public int receiverId()
    {
        return receiverId;
    }

    @Override
    public int senderCount()
    {
        return senderCount;
    }

    @Override
    public void receive(final long step, final int layer, final int microBatch, final RowBatch into)
    {
        endpoint.gather(step, layer, microBatch, into);
    }

    @Override
    public void reply(final long step, final int layer, final int microBatch, final RowBatch results)
    {
        endpoint.publish(step, layer, microBatch, results);
    }

    @Override
    public TransportCounters counters()
    {
        return endpoint.counters();
    }

    @Override
    public void epoch(final long epoch)
    {
        endpoint.epoch(epoch);
    }

    @Override
    public void close()
    {
        endpoint.close();
    }
}
