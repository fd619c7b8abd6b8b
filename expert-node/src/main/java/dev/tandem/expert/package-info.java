/**
 * The expert node role: the weights of its experts for every layer and one batched FFN per
 * expert per micro-batch. Arrives with the attention/FFN disaggregation issue.
 */
package dev.tandem.expert;
