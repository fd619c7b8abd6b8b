#!/usr/bin/env python3
"""Profiles for tandem simulate/plan from splitwise-sim's published measurements (data/perf_model.csv of
github.com/Mutinifni/splitwise-sim): Llama-2-70B on a DGX-A100 and a DGX-H100, tensor parallel 8, as Splitwise's
machines, and the power-capped DGX-H100 of Splitwise-HHcap (7140 W). Prefill: a line through the batch-1 prompt times against prompt length. Decode: a line through the
per-token times against batch at 512-token prompts, and the growth with context at batch 1. Power: the DGX's TDP
from its sku file (the same for prefill and decode, which the data does not split); idle not given, left 0. A mixed
step costs as splitwise-sim's performance model has it: 1.1x a prefill of all its tokens.

usage: fit_splitwise_profiles.py perf_model.csv OUT_DIR"""
import csv, sys, statistics

def line(points):
    xs, ys = zip(*points)
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope

rows = list(csv.DictReader(open(sys.argv[1])))
fits = {}
for hw, sku, tdp in (("a100-80gb", "dgx-a100", 6500), ("h100-80gb-pcap", "dgx-h100-pcap", 7140),
                     ("h100-80gb", "dgx-h100", 10200)):
    r = [x for x in rows if x["model"] == "llama2-70b" and x["hardware"] == hw and x["tensor_parallel"] == "8"]
    med = lambda f, key: statistics.median(float(x[key]) for x in r if f(x))
    prompts = sorted({int(x["prompt_size"]) for x in r if x["batch_size"] == "1"})
    prefill = line([(p, med(lambda x: x["batch_size"] == "1" and int(x["prompt_size"]) == p and x["token_size"] == "128",
                            "prompt_time")) for p in prompts])
    batches = sorted({int(x["batch_size"]) for x in r if x["prompt_size"] == "512" and int(x["batch_size"]) <= 32})
    decode = line([(b, med(lambda x: int(x["batch_size"]) == b and x["prompt_size"] == "512" and x["token_size"] == "128",
                           "token_time")) for b in batches])
    ctx = line([(p, med(lambda x: x["batch_size"] == "1" and int(x["prompt_size"]) == p and x["token_size"] == "128",
                        "token_time")) for p in prompts])
    per_context = max(0.0, ctx[1])
    intercept = decode[0] - per_context * (512 + 64)  # the batch line's contexts: 512-token prompts, 128 generated
    fits[sku] = (prefill, decode)
    name = f"{sku}-llama2-70b"
    cap = ""
    if sku == "dgx-h100":  # POLCA's curve: the capped rows against these, prefill per token and a decode step of 16
        (_, capped_token), (capped_d0, capped_d1) = fits["dgx-h100-pcap"]
        prefill_factor = max(1.0, capped_token / prefill[1])
        decode_factor = max(1.0, (capped_d0 + 16 * capped_d1) / (decode[0] + 16 * decode[1]))
        cap = f"""# POLCA's capping, from the data's h100-80gb-pcap rows (dgx-h100-pcap-llama2-70b.properties) against these:
# capped to 7140 W, a prefill token takes {prefill_factor:.3f}x as long and a decode step of 16 {decode_factor:.3f}x
power.cap_w = 7140
power.cap_prefill_factor = {prefill_factor:.4f}
power.cap_decode_factor = {decode_factor:.4f}
"""
    with open(f"{sys.argv[2]}/{name}.properties", "w") as out:
        out.write(f"""# Llama-2-70B on a {sku.upper()} (8 GPUs, tensor parallel 8), fitted by bench/scripts/fit_splitwise_profiles.py
# to splitwise-sim's published measurements (github.com/Mutinifni/splitwise-sim data/perf_model.csv, commit 8f99e7d):
# prefill at batch 1 over prompts of {prompts[0]}-{prompts[-1]} tokens; decode at 512-token prompts over batches
# {batches[0]}-{batches[-1]}, and its growth with context at batch 1. Power: the DGX's TDP ({tdp} W, its sku file)
# for prefill and decode alike; idle and cost are not in the data (0).
name = {name}
source = splitwise-sim data/perf_model.csv (8f99e7d), llama2-70b {hw} tp8
prefill.intercept_ms = {max(0.0, prefill[0]):.4f}
prefill.per_token_ms = {prefill[1]:.6f}
decode.intercept_ms = {max(0.0, intercept):.4f}
decode.per_sequence_ms = {max(0.0, decode[1]):.6f}
decode.per_context_token_ms = {per_context:.8f}
kv.intercept_ms = 0
kv.per_token_ms = 0
max_batch_tokens = 8192
power.prefill_w = {tdp}
power.decode_w = {tdp}
power.idle_w = 0
cost_per_hour = 0
# a step with prompt and decode tokens: splitwise-sim's performance_model.py costs it as 1.1x a prefill of them all
mixed.prefill_factor = 1.1
""" + cap)
    print(name, "prefill", prefill, "decode", decode, "per context", per_context)
