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
 * embedded or external driver via {@link dev.tandem.transport.AeronNode}) and in-process
 * ({@link dev.tandem.transport.InProcessM2n}, colocated mode). A Netty/TCP baseline implements
 * the same two interfaces later.
 * <p>
 * Copies per activation byte: Aeron one on send (batch to log) and one on receive (log to the
 * destination row, reassembled by {@code FrameGatherer} without a FragmentAssembler); in-process
 * one into the ring and one out of it.
 */
package dev.tandem.transport;
