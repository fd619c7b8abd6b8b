/**
 * The attention node role: embeddings, attention, router, final norm and LM head, the paged KV
 * cache, continuous batching and the ping-pong micro-batch pipeline. Arrives with the
 * attention/FFN disaggregation issue; today the colocated engine in {@code tandem-core} does its work.
 */
package dev.tandem.attention;
