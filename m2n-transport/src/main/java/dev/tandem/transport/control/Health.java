package dev.tandem.transport.control;

import dev.tandem.transport.control.proto.NodeState;

/**
 * One answered ping.
 *
 * @param nodeId       who answered.
 * @param state        its state when it answered.
 * @param clusterEpoch the epoch it is at.
 * @param roundTripNs  from sending the ping to receiving the pong. // ns
 */
public record Health(String nodeId, NodeState state, long clusterEpoch, long roundTripNs)
{
}
