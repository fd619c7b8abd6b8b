package dev.tandem.transport;

/**
 * An {@link M2nReceiver} that an {@link M2nEndpoint} of the expert side serves: dispatches are
 * its gathers and replies its publishes.
 */
abstract class EndpointM2nReceiver<E extends M2nEndpoint> extends EndpointM2n<E> implements M2nReceiver
{
    EndpointM2nReceiver(final E endpoint, final int receiverId)
    {
        super(endpoint, receiverId);
    }

    @Override
    public int receiverId()
    {
        return id;
    }

    @Override
    public int senderCount()
    {
        return endpoint.peerCount();
    }

    @Override
    public void receive(final long step, final int layer, final int microBatch, final RowBatch into)
    {
        endpoint.gather(step, layer, microBatch, into);
    }

    @Override
    public void reply(final long step, final int layer, final int microBatch, final RowBatch results)
    {
        endpoint.send(step, layer, microBatch, results);
    }
}
