package dev.tandem.core.cluster;

/**
 * The line protocol between the scheduler and its nodes: a node greets each connection with
 * {@code {"hello":"tandem-node","protocol":VERSION,"model":FINGERPRINT,"challenge":C}}, and the
 * scheduler refuses, naming both sides, a node of another protocol version or another model (the
 * fingerprint of the checkpoint each side loaded: a scheduler pointed at the wrong machine must
 * not serve one model's token ids as another's).
 */
public final class NodeProtocol {
    /** Raised whenever a line's meaning changes, so that a scheduler and its nodes from different builds refuse each other. */
    public static final int VERSION = 1;

    private NodeProtocol() {
    }
}
