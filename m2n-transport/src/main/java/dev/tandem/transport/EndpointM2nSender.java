package dev.tandem.transport;

/**
 * An {@link M2nSender} that an {@link M2nEndpoint} of the attention side serves: dispatches are
 * its publishes and results its gathers.
 */
abstract class EndpointM2nSender<E extends M2nEndpoint> extends EndpointM2n<E> implements M2nSender
{
    EndpointM2nSender(final E endpoint, final int senderId)
    {
        super(endpoint, senderId);
    }

    @Override
    public int senderId()
    {
        return id;
    }

    @Override
    public int receiverCount()
    {
        return endpoint.peerCount();
    }

    @Override
    public void send(final long step, final int layer, final int microBatch, final RowBatch batch)
    {
        endpoint.send(step, layer, microBatch, batch);
    }

    @Override
    public void receiveResults(final long step, final int layer, final int microBatch, final RowBatch into)
    {
        endpoint.gather(step, layer, microBatch, into);
    }
}
