package dev.tandem.transport;

import io.aeron.Aeron;

/**
 * {@link M2nReceiver} over Aeron: one subscription for all senders' dispatches (an image per
 * sender, told apart by session id), one exclusive publication back to each sender. The Aeron
 * client is the caller's (see {@link AeronNode}) and outlives this receiver.
 */
public final class AeronM2nReceiver extends EndpointM2nReceiver<AeronEndpoint>
{
    public AeronM2nReceiver(final M2nContext ctx, final Aeron aeron, final int receiverId)
    {
        super(new AeronEndpoint(ctx, aeron, receiverId, false), receiverId);
    }

    /** Wait until every sender is reachable both ways; a deployment calls this once at start. */
    public AeronM2nReceiver awaitConnected(final long timeoutNs)
    {
        endpoint.awaitConnected(timeoutNs);
        return this;
    }
}
