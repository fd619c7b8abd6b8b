package dev.tandem.transport;

import io.aeron.Aeron;

/**
 * {@link M2nSender} over Aeron (aeron:ipc or aeron:udp, as the topology says): one exclusive
 * publication per receiver, one subscription for the results. The Aeron client is the
 * caller's (see {@link AeronNode}) and outlives this sender.
 */
public final class AeronM2nSender implements M2nSender
{
    private final AeronEndpoint endpoint;
    private final int senderId;
    private final int receiverCount;

    public AeronM2nSender(final M2nContext ctx, final Aeron aeron, final int senderId)
    {
        this.endpoint = new AeronEndpoint(ctx, aeron, senderId, true);
        this.senderId = senderId;
        this.receiverCount = ctx.topology().receiverCount();
    }

    /** Wait until every receiver is reachable both ways; a deployment calls this once at start. */
    public AeronM2nSender awaitConnected(final long timeoutNs)
    {
        endpoint.awaitConnected(timeoutNs);
        return this;
    }

    @Override
    public int senderId()
    {
        return senderId;
    }

    @Override
    public int receiverCount()
    {
        return receiverCount;
    }

    @Override
    public void send(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        endpoint.publish(step, layer, microBatch, batch);
    }

    @Override
    public void receiveResults(final long step, final int layer, final int microBatch, final RowBatch into)
    {
        endpoint.gather(step, layer, microBatch, into);
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
