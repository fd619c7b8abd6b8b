/**
 * The M2N data plane between M attention nodes and N expert nodes (Aeron IPC/UDP, in-process,
 * and a Netty/TCP baseline). Arrives with the M2N transport issue; empty until then.
 */
package dev.tandem.transport;
