package dev.tandem.transport;

/** A failure of the M2N transport that names the peer concerned. */
public class M2nException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    private final String peer;

    public M2nException(final String peer, final String message)
    {
        super(peer + ": " + message);
        this.peer = peer;
    }

    /** @return the peer, e.g. {@code "receiver 2 (aeron:udp?endpoint=10.0.0.7:40125)"}. */
    public String peer()
    {
        return peer;
    }
}
