package dev.tandem.transport;

/**
 * A peer disappeared (image unavailable or at end of stream, publication not connected), or
 * sent nothing for the awaited (step, layer, micro-batch) within the configured time.
 */
public final class PeerLostException extends M2nException
{
    private static final long serialVersionUID = 1L;

    public PeerLostException(final String peer, final String message)
    {
        super(peer, message);
    }
}
