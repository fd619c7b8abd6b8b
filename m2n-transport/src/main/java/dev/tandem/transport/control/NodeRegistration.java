package dev.tandem.transport.control;

import dev.tandem.transport.control.proto.Register;
import dev.tandem.transport.control.proto.Role;

/**
 * What a node tells the control server when it joins.
 *
 * @param role             attention, expert or scheduler.
 * @param nodeId           unique in the cluster.
 * @param dataEndpoint     where the node's M2N data plane listens ({@code host:port}, or {@code ipc}).
 * @param modelFingerprint {@link ModelFingerprint} of the checkpoint the node loaded.
 * @param clusterEpoch     the membership epoch the node believes in.
 */
public record NodeRegistration(
    Role role, String nodeId, String dataEndpoint, String modelFingerprint, long clusterEpoch)
{
    Register toProto()
    {
        return Register.newBuilder()
            .setRole(role)
            .setNodeId(nodeId)
            .setDataEndpoint(dataEndpoint)
            .setModelFingerprint(modelFingerprint)
            .setClusterEpoch(clusterEpoch)
            .build();
    }

    static NodeRegistration fromProto(final Register register)
    {
        return new NodeRegistration(register.getRole(), register.getNodeId(), register.getDataEndpoint(),
            register.getModelFingerprint(), register.getClusterEpoch());
    }
}
