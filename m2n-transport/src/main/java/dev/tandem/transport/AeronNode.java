package dev.tandem.transport;

import io.aeron.Aeron;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ext.DebugReceiveChannelEndpoint;
import io.aeron.driver.ext.RandomLossGenerator;
import org.agrona.CloseHelper;

import java.util.concurrent.TimeUnit;

/**
 * One node's connection to Aeron: an embedded media driver with its own uniquely named
 * directory (deleted on start and on close) and a client, or only a client of an external
 * driver when {@link TransportConfig#aeronDirectoryName()} is set. Processes that talk over
 * aeron:ipc must share one driver: give all but one of them its directory.
 */
public final class AeronNode implements AutoCloseable
{
    private final MediaDriver driver; // null with an external driver
    private final Aeron aeron;

    private AeronNode(final MediaDriver driver, final Aeron aeron)
    {
        this.driver = driver;
        this.aeron = aeron;
    }

    /** Start an embedded driver (unless the config names an external one) and connect a client. */
    public static AeronNode launch(final TransportConfig config)
    {
        MediaDriver driver = null;
        try
        {
            String directory = config.aeronDirectoryName();
            if (directory == null)
            {
                final MediaDriver.Context driverCtx = driverContext(config);
                try
                {
                    driver = launchPrivateDriver(driverCtx);
                }
                catch (final RuntimeException ex)
                {
                    // A driver that fails its configuration checks has already created its directory.
                    if (driverCtx.aeronDirectoryName() != null)
                    {
                        driverCtx.deleteAeronDirectory();
                    }
                    throw ex;
                }
                directory = driver.aeronDirectoryName();
            }
            final Aeron aeron = Aeron.connect(new Aeron.Context()
                .aeronDirectoryName(directory)
                .keepAliveIntervalNs(config.peerTimeoutNs() / 8) // well within the driver's client liveness
                .preTouchMappedMemory(!config.sparseLogs()));
            return new AeronNode(driver, aeron);
        }
        catch (final RuntimeException ex)
        {
            CloseHelper.quietClose(driver);
            throw ex;
        }
    }

    /**
     * A driver of this process in a fresh directory of its own ({@link AeronDirectories#fresh}), 0700 with
     * its files 0600, after removing what drivers of dead Tandem processes left behind.
     */
    public static MediaDriver launchPrivateDriver(final MediaDriver.Context ctx)
    {
        AeronDirectories.removeStale(AeronDirectories.sharedMemory());
        final MediaDriver driver = MediaDriver.launch(ctx.aeronDirectoryName(
            AeronDirectories.fresh(AeronDirectories.sharedMemory())));
        AeronDirectories.restrict(driver.aeronDirectoryName());
        return driver;
    }

    /** @return a context for a driver of Tandem's; {@link #launchPrivateDriver} names its directory. */
    public static MediaDriver.Context driverContext(final TransportConfig config)
    {
        final MediaDriver.Context ctx = new MediaDriver.Context()
            .dirDeleteOnStart(true)
            .dirDeleteOnShutdown(true)
            .threadingMode(config.threadingMode())
            .sharedIdleStrategy(config.driverIdleStrategy().get())
            .sharedNetworkIdleStrategy(config.driverIdleStrategy().get())
            .conductorIdleStrategy(config.driverIdleStrategy().get())
            .senderIdleStrategy(config.driverIdleStrategy().get())
            .receiverIdleStrategy(config.driverIdleStrategy().get())
            .termBufferSparseFile(config.sparseLogs())
            .publicationTermBufferLength(config.termLength())
            .ipcTermBufferLength(config.termLength())
            .mtuLength(config.mtuLength())
            .ipcMtuLength(config.mtuLength())
            .imageLivenessTimeoutNs(config.peerTimeoutNs())
            .publicationConnectionTimeoutNs(config.peerTimeoutNs())
            .clientLivenessTimeoutNs(config.peerTimeoutNs()) // a killed client's publications and images go then
            .timerIntervalNs(Math.min(TimeUnit.SECONDS.toNanos(1), config.peerTimeoutNs() / 8));
        config.driverCustomizer().accept(ctx);
        final double loss = receiveLoss();
        if (loss > 0)
        {
            System.err.println("tandem: this node's media driver drops " + 100 * loss +
                " % of the UDP datagrams it receives (-D" + RECEIVE_LOSS_PROPERTY + ")");
            ctx.receiveChannelEndpointSupplier((udpChannel, dispatcher, statusIndicator, context) ->
                new DebugReceiveChannelEndpoint(udpChannel, dispatcher, statusIndicator, context,
                new RandomLossGenerator(loss), new RandomLossGenerator(0.0)));
        }
        return ctx;
    }

    /**
     * Fault injection for tests and benchmarks of lossy networks (this kernel has no netem): the
     * share of received UDP datagrams an embedded driver drops, as Aeron's own loss tests do.
     */
    public static final String RECEIVE_LOSS_PROPERTY = "tandem.aeron.receiveLoss";

    private static double receiveLoss()
    {
        final String value = System.getProperty(RECEIVE_LOSS_PROPERTY, "0");
        try
        {
            final double loss = Double.parseDouble(value);
            if (loss < 0 || loss >= 1)
            {
                throw new NumberFormatException();
            }
            return loss;
        }
        catch (final NumberFormatException ex)
        {
            throw new IllegalArgumentException("-D" + RECEIVE_LOSS_PROPERTY + "=" + value + ": expected a share in [0, 1)");
        }
    }

    public Aeron aeron()
    {
        return aeron;
    }

    /** @return the driver's directory, to hand to nodes that share this driver. */
    public String aeronDirectoryName()
    {
        return aeron.context().aeronDirectoryName();
    }

    @Override
    public void close()
    {
        CloseHelper.closeAll(aeron, driver);
    }
}
