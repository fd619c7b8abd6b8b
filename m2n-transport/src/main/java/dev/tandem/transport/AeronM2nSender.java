package dev.tandem.transport;

import io.aeron.Aeron;

/**
 * {@link M2nSender} over Aeron (aeron:ipc or aeron:udp, as the topology says): one exclusive
 * publication per receiver, one subscription for the results. The Aeron client is the
 * caller's (see {@link AeronNode}) and outlives this sender.
 */
public final class AeronM2nSender extends EndpointM2nSender<AeronEndpoint>
{
    public AeronM2nSender(final M2nContext ctx, final Aeron aeron, final int senderId)
    {
        super(new AeronEndpoint(ctx, aeron, senderId, true), senderId);
    }

    /** Wait until every receiver is reachable both ways; a deployment calls this once at start. */
    public AeronM2nSender awaitConnected(final long timeoutNs)
    {
        endpoint.awaitConnected(timeoutNs);
        return this;
    }
}
