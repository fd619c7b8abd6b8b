#!/usr/bin/env python3
"""The peer of `tandem bench gpu`: Hugging Face transformers on the same Mixtral shape, random
bf16 weights made on the device, the same batch sizes, context and prompt lengths. Tries each
experts implementation transformers offers and keeps every result; prints one JSON object.

    python3 bench/scripts/gpu_peer.py --layers 32 --batch-sizes 1,8,32,128 --json peer.json
"""
import argparse
import gc
import json
import sys
import time

import torch
import transformers
from transformers import MixtralConfig, MixtralForCausalLM


def log(*a):
    print("peer:", *a, file=sys.stderr, flush=True)


def build(layers, impl):
    config = MixtralConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=layers,
                           num_attention_heads=32, num_key_value_heads=8, num_local_experts=8,
                           num_experts_per_tok=2, vocab_size=32000, max_position_embeddings=32768,
                           rope_theta=1e6, torch_dtype=torch.bfloat16)
    chosen = "default"
    with torch.device("cuda"):
        try:
            model = MixtralForCausalLM._from_config(config, torch_dtype=torch.bfloat16,
                                                    experts_implementation=impl)
            chosen = impl
        except (TypeError, ValueError) as e:
            log("experts_implementation=%s not taken (%s); default" % (impl, e))
            model = MixtralForCausalLM._from_config(config, torch_dtype=torch.bfloat16)
    model.eval()
    return model, chosen


@torch.inference_mode()
def decode(model, batch, context, steps):
    ids = torch.randint(3, 32000, (batch, context), device="cuda")
    try:
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    except torch.OutOfMemoryError:
        # batched_mm gathers expert weights per token: prefill the prompt a token at a time
        gc.collect()
        torch.cuda.empty_cache()
        out = None
        for t in range(context):
            out = model(input_ids=ids[:, t:t + 1], past_key_values=None if out is None else out.past_key_values,
                        use_cache=True)
    cache = out.past_key_values
    token = out.logits[:, -1].argmax(-1, keepdim=True)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        out = model(input_ids=token, past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        token = out.logits[:, -1].argmax(-1, keepdim=True)
    token.cpu()
    return batch * steps / (time.perf_counter() - start)


@torch.inference_mode()
def prefill(model, tokens):
    ids = torch.randint(3, 32000, (1, tokens), device="cuda")
    model(input_ids=ids, use_cache=True, logits_to_keep=1)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    out.logits.cpu()
    return tokens / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--batch-sizes", default="1,8,32,128")
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--decode-tokens", type=int, default=16)
    p.add_argument("--prefill-tokens", default="512,2048")
    p.add_argument("--impls", default="grouped_mm,batched_mm")
    p.add_argument("--json")
    a = p.parse_args()
    report = {"transformers": transformers.__version__, "torch": torch.__version__,
              "device": torch.cuda.get_device_name(), "layers": a.layers, "runs": []}
    for impl in a.impls.split(","):
        t0 = time.perf_counter()
        model, chosen = build(a.layers, impl)
        log("built %d layers (%s) in %.0f s" % (a.layers, chosen, time.perf_counter() - t0))
        run = {"experts_implementation": chosen, "decode": [], "prefill": []}
        decode(model, 1, 16, 2)  # warm-up
        for b in map(int, a.batch_sizes.split(",")):
            try:
                tps = decode(model, b, a.context, a.decode_tokens)
            except torch.OutOfMemoryError:
                tps = None
                gc.collect()
                torch.cuda.empty_cache()
            log("%s decode batch %d: %s tokens/s" % (chosen, b, tps))
            run["decode"].append({"batch": b, "tokens_per_s": tps})
        for t in map(int, a.prefill_tokens.split(",")):
            try:
                tps = prefill(model, t)
            except torch.OutOfMemoryError:
                tps = None
                torch.cuda.empty_cache()
            log("%s prefill %d: %s tokens/s" % (chosen, t, tps))
            run["prefill"].append({"tokens": t, "tokens_per_s": tps})
        report["runs"].append(run)
        del model
        gc.collect()
        torch.cuda.empty_cache()
        if chosen == "default":
            break
    text = json.dumps(report, indent=1)
    if a.json:
        open(a.json, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
