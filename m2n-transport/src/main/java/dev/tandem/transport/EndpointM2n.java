package dev.tandem.transport;

/**
 * What an {@link M2nSender} and an {@link M2nReceiver} served by an {@link M2nEndpoint} share:
 * its id, the endpoint's counters and epoch, and closing the endpoint.
 */
abstract class EndpointM2n<E extends M2nEndpoint> implements AutoCloseable
{
    protected final E endpoint;
    protected final int id;

    EndpointM2n(final E endpoint, final int id)
    {
        this.endpoint = endpoint;
        this.id = id;
    }

    public TransportCounters counters()
    {
        return endpoint.counters();
    }

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
