/**
 * Splitwise's layer-wise KV-cache transfer from a prompt machine to a token machine over Aeron.
 * <p>
 * Prompt machine: {@code CausalLm.observeLayers(PrefillKvTap)} hands each layer's new K/V rows of
 * the tracked requests over right after that layer's attention, and a
 * {@link dev.tandem.transport.kv.KvTransferSender} copies them out of the KV cache straight into its
 * frames ({@code ComputeBackend.copyKvToHost}); when the first token is sampled, {@code sendComplete}
 * ends the transfer. Token machine: {@code KvHandoff} reserves blocks before prefill starts; a
 * {@link dev.tandem.transport.kv.KvTransferReceiver}, polled between steps, hands each received frame's
 * rows to a {@link dev.tandem.transport.kv.KvSink} that writes them from the frame into those blocks
 * ({@code ComputeBackend.copyKvFromHost}) and, on completion, calls {@code Generator.resume}. No row
 * passes through the heap.
 * <p>
 * Rows travel in the caches' dtype: bf16 from a GPU's bf16 cache, fp32 from the CPU's. A token's K and
 * V of one layer are 2 x kvHeads x headDim x 2 (bf16) or 4 (fp32) bytes; Mixtral-8x7B (8 KV heads of
 * 128, 32 layers): 4 KiB per layer per token in bf16 (8 KiB in fp32), 128 KiB per token over all
 * layers (256 KiB in fp32). Aeron's 16 MiB message cap allows 4095 Mixtral positions per bf16 message
 * (2047 in fp32); the sender splits longer runs.
 */
package dev.tandem.transport.kv;
