package dev.tandem.transport.control;

import dev.tandem.transport.control.proto.ControlMessage;
import io.netty.channel.Channel;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Requests on one connection that await their reply, by correlation id. Once the connection is
 * gone every waiting request and every later one fails at once with the reason, so no caller
 * waits out its timeout on a dead connection.
 */
final class PendingRequests
{
    private final AtomicLong nextCorrelationId = new AtomicLong(1);
    private final ConcurrentMap<Long, CompletableFuture<ControlMessage>> waiting = new ConcurrentHashMap<>();
    private volatile String closedReason;

    /**
     * Send a request built for a fresh correlation id and wait for its reply.
     *
     * @param peer named in errors, e.g. "control server at 10.0.0.3:7000".
     * @throws ControlException if the connection is or goes down, or nothing answers in time.
     */
    ControlMessage call(final Channel channel, final ControlMessage.Builder request, final Duration timeout,
        final String peer)
    {
        final long id = nextCorrelationId.getAndIncrement();
        final CompletableFuture<ControlMessage> reply = new CompletableFuture<>();
        waiting.put(id, reply);
        final String reason = closedReason;
        if (reason != null)
        {
            fail(id, reason);
        }
        else
        {
            channel.writeAndFlush(request.setCorrelationId(id).build()).addListener(future ->
            {
                if (!future.isSuccess())
                {
                    // a write that loses the race with the peer's close says what happened, not how
                    fail(id, future.cause() instanceof java.nio.channels.ClosedChannelException
                        ? peer + " closed the connection" : "could not send to " + peer + ": " + future.cause());
                }
            });
        }
        return await(id, reply, timeout, peer);
    }

    private ControlMessage await(
        final long id, final CompletableFuture<ControlMessage> reply, final Duration timeout, final String peer)
    {
        try
        {
            return reply.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        }
        catch (final TimeoutException ex)
        {
            waiting.remove(id);
            throw new ControlException("no reply from " + peer + " within " + timeout.toMillis() + " ms");
        }
        catch (final ExecutionException ex)
        {
            throw new ControlException(ex.getCause().getMessage(), ex.getCause());
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            waiting.remove(id);
            throw new ControlException("interrupted while waiting for " + peer);
        }
    }

    /** A reply arrived; replies nobody waits for any more (timed out) are dropped. */
    void complete(final ControlMessage reply)
    {
        final CompletableFuture<ControlMessage> future = waiting.remove(reply.getCorrelationId());
        if (future != null)
        {
            future.complete(reply);
        }
    }

    /** The connection is gone: fail everything waiting now and every request from now on. */
    void closeAll(final String reason)
    {
        closedReason = reason;
        for (final Long id : waiting.keySet())
        {
            fail(id, reason);
        }
    }

    /** @return why the connection is gone, or null while it is up. */
    String closedReason()
    {
        return closedReason;
    }

    private void fail(final long id, final String reason)
    {
        final CompletableFuture<ControlMessage> future = waiting.remove(id);
        if (future != null)
        {
            future.completeExceptionally(new ControlException(reason));
        }
    }
}
