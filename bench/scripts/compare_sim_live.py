#!/usr/bin/env python3
"""P50 and P90 of TTFT, TBT and E2E: a live bench serve JSON against a tandem simulate JSON of the same
slice, as a markdown table with the simulated-over-live ratio and whether it is within 15 %.
    compare_sim_live.py live.json sim.json"""
import json
import sys

live, sim = (json.load(open(f))["rates"][0] for f in sys.argv[1:3])
print(f"| metric | live ms | simulated ms | simulated / live | within 15 % |")
print(f"| --- | ---: | ---: | ---: | --- |")
worst = 0.0
for metric in ("ttftMs", "tbtMs", "e2eMs"):
    for q in ("p50", "p90"):
        a, b = live[metric][q], sim[metric][q]
        ratio = b / a if a else float("nan")
        worst = max(worst, abs(ratio - 1))
        name = metric[:-2].upper() + " " + q.upper()
        print(f"| {name} | {a:.1f} | {b:.1f} | {ratio:.3f} | {'yes' if abs(ratio - 1) <= 0.15 else 'no'} |")
print()
print(f"Requests: {live['completed']} of {live['requests']} live, {sim['completed']} of {sim['requests']} simulated;"
      f" output tok/s {live['outputTokensPerSecond']:.2f} live, {sim['outputTokensPerSecond']:.2f} simulated."
      f" Largest deviation: {100 * worst:.1f} %.")
