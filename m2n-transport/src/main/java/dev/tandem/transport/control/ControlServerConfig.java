package dev.tandem.transport.control;

import java.time.Duration;

/**
 * The control server's identity and the cluster's terms of admission.
 *
 * @param host             to bind ({@code 127.0.0.1}, {@code 0.0.0.0}, ...).
 * @param port             to bind; 0 takes a free one ({@link ControlServer#port()} says which).
 * @param nodeId           the server's own node id, reported in pongs.
 * @param modelFingerprint every node must have loaded this model.
 * @param clusterEpoch     every node must be at this epoch.
 * @param requestTimeout   how long the server waits for a pong when it pings a node.
 */
public record ControlServerConfig(
    String host, int port, String nodeId, String modelFingerprint, long clusterEpoch, Duration requestTimeout)
{
    /** Loopback, a free port, 5 s requests. */
    public static ControlServerConfig loopback(final String nodeId, final String modelFingerprint, final long epoch)
    {
        return new ControlServerConfig("127.0.0.1", 0, nodeId, modelFingerprint, epoch, Duration.ofSeconds(5));
    }
}
