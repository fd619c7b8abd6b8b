/**
 * The M2N data plane between M attention nodes ({@link dev.tandem.transport.M2nSender}) and N
 * expert nodes ({@link dev.tandem.transport.M2nReceiver}).
 * <p>
 * Per (step, layer, micro-batch) every sender sends every receiver one frame
 * ({@link dev.tandem.transport.FrameFlyweight}: header, routing metadata, activations; empty
 * frames included), every receiver gathers the frames of all senders into one preallocated
 * {@link dev.tandem.transport.RowBatch} and replies to each sender with its rows.
 * <p>
 * Implementations: Aeron ({@link dev.tandem.transport.AeronM2nSender},
 * {@link dev.tandem.transport.AeronM2nReceiver}; aeron:ipc within a host, aeron:udp across hosts,
 * embedded or external driver via {@link dev.tandem.transport.AeronNode}), in-process
 * ({@link dev.tandem.transport.InProcessM2n}, colocated mode) and Netty/TCP
 * ({@link dev.tandem.transport.NettyM2nSender}, {@link dev.tandem.transport.NettyM2nReceiver},
 * the measured baseline). All three use the same frames, {@link dev.tandem.transport.FrameValidator}
 * and {@code FrameGatherer}. {@link dev.tandem.transport.LocalM2n} builds M x N of any kind in one
 * process. The control plane (registration, fingerprint and epoch handshake, health) is in
 * {@code dev.tandem.transport.control}.
 * <p>
 * Copies per activation byte, each way: Aeron one on send (batch to log) and one on receive
 * (log to the destination row, reassembled by {@code FrameGatherer} without a FragmentAssembler),
 * and the driver zeroes the log behind the readers; over UDP the kernel also copies the publication
 * log into the socket and the datagram out of it, and the receiving driver copies the datagram into
 * the image log (five copies). In-process one into the ring
 * and one out of it. Netty one into a pooled direct buffer and one out of the received buffer into
 * the row, plus the kernel's two (user to socket, socket to user).
 */
package dev.tandem.transport;
