package dev.tandem.core.compute;

/**
 * DMA between a device's memory and host memory that someone else owns (a transport's log
 * buffers), on a stream of its own so that the copies overlap with compute, for one thread.
 * Host memory reaches the bus's rate once {@link #register}ed (page-locked); unregistered host
 * memory is still copied correctly, through the driver's slower pageable path.
 * <p>
 * A copy moves {@code rows} runs of {@code width} bytes: contiguous on the device, {@code
 * hostPitch} bytes apart in host memory, so that the fragments of one message, each behind its
 * header in a log, go in one call. Copies are queued; {@link #await} returns when they are done.
 */
public interface DeviceCopies extends AutoCloseable {
    /**
     * Page-lock host memory {@code [address, address + bytes)} for DMA, counted: a range registered
     * twice is unlocked by its second {@link #unregister}. False where the driver refuses.
     */
    boolean register(long address, long bytes);

    /** Undo one {@link #register} of exactly this range; ranges still registered at {@link #close} are undone there. */
    void unregister(long address, long bytes);

    /** The device address of {@code rows}' first element: device rows of the backend these copies belong to, contiguous. */
    long address(Activations rows);

    /** Copies queued from now on start after the compute work queued so far (what wrote the rows they read). */
    void afterCompute();

    /** Queue device {@code [device, device + rows · width)} into host memory at {@code host}, a row every {@code hostPitch} bytes. */
    void toHost(long host, long hostPitch, long device, long width, int rows);

    /** Queue host memory ({@code rows} of {@code width} bytes, {@code hostPitch} apart from {@code host}) into device {@code [device, …)}. */
    void toDevice(long device, long host, long hostPitch, long width, int rows);

    /** Returns once every queued copy is done: the host may read what came off the device, and compute may read what went onto it. */
    void await();

    /**
     * A point in the queue, for waiting on part of it: {@link #awaitMark} returns once the copies
     * queued before this call are done, while later ones go on. A sender commits a message's first
     * fragments this way while the rest are still being copied in.
     */
    long mark();

    /** Returns once at least every copy queued before {@code mark} was taken is done (possibly later ones too). */
    void awaitMark(long mark);

    @Override
    void close();
}
