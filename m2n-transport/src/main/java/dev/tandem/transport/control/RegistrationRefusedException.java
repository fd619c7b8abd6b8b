package dev.tandem.transport.control;

/** The control server refused a node; {@link #reason()} is the server's own words. */
public final class RegistrationRefusedException extends ControlException
{
    private static final long serialVersionUID = 1L;

    private final String reason;

    public RegistrationRefusedException(final String nodeId, final String reason)
    {
        super("registration of node " + nodeId + " refused: " + reason);
        this.reason = reason;
    }

    public String reason()
    {
        return reason;
    }
}
