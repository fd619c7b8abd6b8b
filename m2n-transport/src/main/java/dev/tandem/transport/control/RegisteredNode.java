package dev.tandem.transport.control;

import dev.tandem.transport.control.proto.NodeState;

/**
 * A member of the cluster as the control server sees it.
 *
 * @param registration what the node said when it joined.
 * @param state        the state its latest ping reported (STARTING until it pings).
 * @param remote       the address its control connection comes from.
 */
public record RegisteredNode(NodeRegistration registration, NodeState state, String remote)
{
}
