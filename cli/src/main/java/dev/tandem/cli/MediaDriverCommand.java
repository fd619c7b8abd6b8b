package dev.tandem.cli;

import dev.tandem.transport.AeronDirectories;
import dev.tandem.transport.AeronNode;
import dev.tandem.transport.TransportConfig;
import io.aeron.driver.MediaDriver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code tandem media-driver}: the Aeron media driver that the nodes of one host share (aeron:ipc),
 * with the timeouts and log sizes Tandem's nodes expect, until SIGINT or SIGTERM; its directory is
 * deleted when it stops. {@code tandem local} runs one of its own.
 */
@Command(name = "media-driver", mixinStandardHelpOptions = true,
        description = "Run the Aeron media driver that the nodes of this host share (give its --dir as aeron.dir in the "
                + "cluster config and --aeron-dir to prompt nodes), until Ctrl-C.")
final class MediaDriverCommand implements Callable<Integer> {
    @Option(names = "--dir", required = true, description = "The driver's directory, e.g. /dev/shm/tandem.")
    String dir;

    @Override
    public Integer call() throws InterruptedException {
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        // the hook waits for the driver to close: the JVM halts once its hooks return
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.countDown();
            try {
                closed.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "tandem-media-driver-stop"));
        AeronDirectories.checkUsable(java.nio.file.Path.of(dir)); // the driver clears it: refuse what that would lose
        try (MediaDriver driver = MediaDriver.launch(AeronNode.driverContext(TransportConfig.defaults())
                .aeronDirectoryName(dir))) {
            AeronDirectories.restrict(driver.aeronDirectoryName());
            System.err.println("tandem: media driver running in " + driver.aeronDirectoryName() + "; Ctrl-C stops it");
            stop.await();
        } finally {
            closed.countDown();
        }
        return 0;
    }
}
