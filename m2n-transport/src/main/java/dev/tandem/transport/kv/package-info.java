/**
 * Splitwise's layer-wise KV-cache transfer from a prompt machine to a token machine over Aeron.
 * <p>
 * Prompt machine: {@code CausalLm.observeLayers(PrefillKvTap)} reads each layer's new K/V rows of
 * the tracked requests right after that layer's attention, and a {@link dev.tandem.transport.kv.KvTransferSender}
 * sends them; when the first token is sampled, {@code sendComplete} ends the transfer.
 * Token machine: {@code KvHandoff} reserves blocks before prefill starts; a
 * {@link dev.tandem.transport.kv.KvTransferReceiver}, polled between steps, hands rows to a
 * {@link dev.tandem.transport.kv.KvSink} that writes them into those blocks and, on completion,
 * calls {@code Generator.resume}.
 * <p>
 * Sizes (fp32 on the wire): a token's K and V of one layer are 2 x kvHeads x headDim x 4 bytes;
 * Mixtral-8x7B (8 KV heads of 128, 32 layers): 8 KiB per layer per token in fp32 (4 KiB in bf16),
 * 256 KiB per token over all layers (128 KiB in bf16). Aeron's 16 MiB message cap allows 2047
 * Mixtral positions per fp32 message; the sender splits longer runs.
 */
package dev.tandem.transport.kv;
