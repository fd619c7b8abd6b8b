package dev.tandem.transport.control;

import dev.tandem.core.TandemException;

/** The control plane could not answer: server unreachable or gone, no reply in time, or a refusal. */
public class ControlException extends TandemException
{
    private static final long serialVersionUID = 1L;

    public ControlException(final String message)
    {
        super(message);
    }

    public ControlException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
