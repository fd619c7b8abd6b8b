package dev.tandem.transport;

import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;

/**
 * Everything an M2N endpoint needs besides its own id: topology, tuning, frame shape, cluster
 * epoch and clock. Shared by all nodes of one process (or test); fluent setters, Aeron style.
 */
public final class M2nContext
{
    private M2nTopology topology;
    private java.util.function.Consumer<String> log = line -> System.err.println("m2n: " + line);
    private TransportConfig config = TransportConfig.defaults();
    private int hiddenSize;
    private Dtype dtype = Dtype.BF16;
    private int maxTokensPerPeer;
    private long epoch;
    private NanoClock nanoClock = SystemNanoClock.INSTANCE;
    private dev.tandem.core.cluster.ClusterToken clusterToken;

    public M2nContext topology(final M2nTopology topology)
    {
        this.topology = topology;
        return this;
    }

    public M2nTopology topology()
    {
        return topology;
    }

    public M2nContext config(final TransportConfig config)
    {
        this.config = config;
        return this;
    }

    public TransportConfig config()
    {
        return config;
    }

    /** Elements per activation row (the model's hidden size). */
    public M2nContext hiddenSize(final int hiddenSize)
    {
        this.hiddenSize = hiddenSize;
        return this;
    }

    public int hiddenSize()
    {
        return hiddenSize;
    }

    public M2nContext dtype(final Dtype dtype)
    {
        this.dtype = dtype;
        return this;
    }

    public Dtype dtype()
    {
        return dtype;
    }

    /** The most tokens one sender sends one receiver in one micro-batch; frames above it are dropped. */
    public M2nContext maxTokensPerPeer(final int maxTokensPerPeer)
    {
        this.maxTokensPerPeer = maxTokensPerPeer;
        return this;
    }

    public int maxTokensPerPeer()
    {
        return maxTokensPerPeer;
    }

    /** Cluster epoch at start; endpoints can move to a new one later. */
    public M2nContext epoch(final long epoch)
    {
        this.epoch = epoch;
        return this;
    }

    public long epoch()
    {
        return epoch;
    }

    public M2nContext nanoClock(final NanoClock nanoClock)
    {
        this.nanoClock = nanoClock;
        return this;
    }

    public NanoClock nanoClock()
    {
        return nanoClock;
    }

    /** Where the endpoints say how they move rows (once each, never on the hot path); stderr by default. */
    /**
     * The cluster's shared secret, or null (the default): over TCP a sender then signs its hello to
     * each receiver's challenge with it, and a receiver takes no sender that cannot.
     */
    public M2nContext clusterToken(final dev.tandem.core.cluster.ClusterToken clusterToken)
    {
        this.clusterToken = clusterToken;
        return this;
    }

    public dev.tandem.core.cluster.ClusterToken clusterToken()
    {
        return clusterToken;
    }

    public M2nContext log(final java.util.function.Consumer<String> log)
    {
        this.log = log;
        return this;
    }

    public java.util.function.Consumer<String> log()
    {
        return log;
    }

    /** @return the largest frame, to size terms and rings. */
    public long maxFrameLength()
    {
        return FrameFlyweight.frameLength(maxTokensPerPeer, hiddenSize, dtype);
    }

    /** Check the context is complete and consistent; returns this. */
    public M2nContext conclude()
    {
        if (topology == null || hiddenSize <= 0 || maxTokensPerPeer < 0)
        {
            throw new IllegalStateException("topology, hiddenSize and maxTokensPerPeer are required: " + this);
        }
        if (maxFrameLength() > config.maxFrameLength())
        {
            throw new IllegalStateException("largest frame " + maxFrameLength() + " B exceeds termLength / 8 = " +
                config.maxFrameLength() + " B; use TransportConfig.termLengthFor(" + maxFrameLength() + ")");
        }
        return this;
    }

    @Override
    public String toString()
    {
        return "M2nContext{topology=" + topology + ", hiddenSize=" + hiddenSize + ", dtype=" + dtype +
            ", maxTokensPerPeer=" + maxTokensPerPeer + ", epoch=" + epoch + '}';
    }
}
