package dev.tandem.bench.m2n;

import dev.tandem.transport.LocalM2n;

/** What moves the bytes in one benchmark row; the label is the name in the JSON and the table. */
public enum Transport {
    AERON_IPC("aeron-ipc", LocalM2n.Kind.AERON_IPC),
    AERON_UDP("aeron-udp", LocalM2n.Kind.AERON_UDP),
    NETTY_TCP("netty-tcp", LocalM2n.Kind.NETTY_TCP),
    /** The physical bound: each sender's bytes copied into each receiver's buffer and back, nothing else. */
    MEMCPY("memcpy", null);

    private final String label;
    private final LocalM2n.Kind kind;

    Transport(String label, LocalM2n.Kind kind) {
        this.label = label;
        this.kind = kind;
    }

    public String label() {
        return label;
    }

    /** @return the M2N implementation, or null for {@link #MEMCPY}. */
    LocalM2n.Kind kind() {
        return kind;
    }
}
