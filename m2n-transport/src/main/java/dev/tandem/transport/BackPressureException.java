package dev.tandem.transport;

/** A peer stayed back-pressured (not consuming) for longer than the send timeout. */
public final class BackPressureException extends M2nException
{
    private static final long serialVersionUID = 1L;

    public BackPressureException(final String peer, final String message)
    {
        super(peer, message);
    }
}
