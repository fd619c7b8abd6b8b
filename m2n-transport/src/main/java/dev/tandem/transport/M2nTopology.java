package dev.tandem.transport;

import io.aeron.ChannelUriStringBuilder;

import java.util.List;

/**
 * Who talks to whom: M senders (attention nodes) and N receivers (expert nodes), their UDP
 * endpoints ({@code host:port}) or IPC, and how streams and sessions are numbered.
 * <p>
 * Dispatch to receiver r uses stream {@code streamIdBase + r}, combine back to sender s stream
 * {@code streamIdBase + COMBINE_STREAM_OFFSET + s}; every publication carries the explicit
 * session id {@code sessionIdBase + its node id}, which is how a subscriber knows which peer an
 * image belongs to (and the frame's sender id must agree).
 *
 * Over Netty/TCP only the receiver endpoints count: receivers listen there and senders connect.
 *
 * @param udp               true for aeron:udp between hosts, false for aeron:ipc within one driver.
 * @param senderEndpoints   (M) host:port where each sender receives results (ignored for IPC and TCP).
 * @param receiverEndpoints (N) host:port where each receiver receives dispatches (ignored for IPC).
 */
public record M2nTopology(
    boolean udp, List<String> senderEndpoints, List<String> receiverEndpoints, int streamIdBase, int sessionIdBase)
{
    public static final int COMBINE_STREAM_OFFSET = 512;
    public static final int DEFAULT_STREAM_ID_BASE = 0x3000;
    public static final int DEFAULT_SESSION_ID_BASE = 0x6D326E00;

    public M2nTopology
    {
        senderEndpoints = List.copyOf(senderEndpoints);
        receiverEndpoints = List.copyOf(receiverEndpoints);
        if (senderEndpoints.isEmpty() || receiverEndpoints.isEmpty() ||
            Math.max(senderEndpoints.size(), receiverEndpoints.size()) > COMBINE_STREAM_OFFSET)
        {
            throw new IllegalArgumentException("need 1..512 senders and receivers");
        }
    }

    /** M senders and N receivers sharing one media driver. */
    public static M2nTopology ipc(final int senders, final int receivers)
    {
        return new M2nTopology(false, java.util.Collections.nCopies(senders, "ipc"),
            java.util.Collections.nCopies(receivers, "ipc"), DEFAULT_STREAM_ID_BASE, DEFAULT_SESSION_ID_BASE);
    }

    /** M senders and N receivers over UDP at these endpoints. */
    public static M2nTopology udp(final List<String> senderEndpoints, final List<String> receiverEndpoints)
    {
        return new M2nTopology(true, senderEndpoints, receiverEndpoints, DEFAULT_STREAM_ID_BASE,
            DEFAULT_SESSION_ID_BASE);
    }

    /** M senders that connect over TCP to N receivers listening at these endpoints (port 0: any free port). */
    public static M2nTopology tcp(final int senders, final List<String> receiverEndpoints)
    {
        return new M2nTopology(false, java.util.Collections.nCopies(senders, "tcp"), receiverEndpoints,
            DEFAULT_STREAM_ID_BASE, DEFAULT_SESSION_ID_BASE);
    }

    /** @return this topology on streams from {@code base} on, so that groups can share one media driver. */
    public M2nTopology withStreamIdBase(final int base)
    {
        return new M2nTopology(udp, senderEndpoints, receiverEndpoints, base, sessionIdBase);
    }

    /**
     * @return this topology with session ids from {@code base} on: a group restarted under a new
     * epoch takes new ones, since the media driver keeps a dead process's publications (and their
     * session ids) until it times the client out.
     */
    public M2nTopology withSessionIdBase(final int base)
    {
        return new M2nTopology(udp, senderEndpoints, receiverEndpoints, streamIdBase, base);
    }

    /** @return this topology with receivers at other endpoints (e.g. the ports they were given). */
    public M2nTopology withReceiverEndpoints(final List<String> endpoints)
    {
        return new M2nTopology(udp, senderEndpoints, endpoints, streamIdBase, sessionIdBase);
    }

    public int senderCount()
    {
        return senderEndpoints.size();
    }

    public int receiverCount()
    {
        return receiverEndpoints.size();
    }

    public int sessionId(final int nodeId)
    {
        return sessionIdBase + nodeId;
    }

    public int dispatchStreamId(final int receiverId)
    {
        return streamIdBase + receiverId;
    }

    public int combineStreamId(final int senderId)
    {
        return streamIdBase + COMBINE_STREAM_OFFSET + senderId;
    }

    /** Where receiver r subscribes for dispatches. */
    public String dispatchSubscriptionChannel(final int receiverId)
    {
        return subscriptionChannel(receiverEndpoints.get(receiverId));
    }

    /** Where sender s subscribes for results. */
    public String combineSubscriptionChannel(final int senderId)
    {
        return subscriptionChannel(senderEndpoints.get(senderId));
    }

    /** Sender s's exclusive publication to receiver r. */
    public String dispatchPublicationChannel(final int senderId, final int receiverId, final TransportConfig config)
    {
        return publicationChannel(receiverEndpoints.get(receiverId), sessionId(senderId), config);
    }

    /** Receiver r's exclusive publication back to sender s. */
    public String combinePublicationChannel(final int receiverId, final int senderId, final TransportConfig config)
    {
        return publicationChannel(senderEndpoints.get(senderId), sessionId(receiverId), config);
    }

    private String subscriptionChannel(final String endpoint)
    {
        return udp ? new ChannelUriStringBuilder().media("udp").endpoint(endpoint).build() : "aeron:ipc";
    }

    private String publicationChannel(final String endpoint, final int sessionId, final TransportConfig config)
    {
        final ChannelUriStringBuilder builder = new ChannelUriStringBuilder()
            .media(udp ? "udp" : "ipc")
            .mtu(config.mtuLength())
            .termLength(config.termLength())
            .sessionId(sessionId);
        return udp ? builder.endpoint(endpoint).build() : builder.build();
    }
}
