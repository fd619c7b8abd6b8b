#!/usr/bin/env python3
"""P50 and P90 of TTFT, TBT and E2E: a live bench serve JSON against a tandem simulate JSON of the same
slice, rate by rate, as a markdown table with the simulated-over-live ratio and whether it is within 15 %.
    compare_sim_live.py live.json sim.json"""
import json
import sys

live_rates, sim_rates = (json.load(open(f))["rates"] for f in sys.argv[1:3])
print("| rate req/s | metric | live ms | simulated ms | simulated / live | within 15 % |")
print("| ---: | --- | ---: | ---: | ---: | --- |")
worst = 0.0
notes = []
for live, sim in zip(live_rates, sim_rates):
    for metric in ("ttftMs", "tbtMs", "e2eMs"):
        for q in ("p50", "p90"):
            a, b = live[metric][q], sim[metric][q]
            ratio = b / a if a else float("nan")
            worst = max(worst, abs(ratio - 1))
            name = metric[:-2].upper() + " " + q.upper()
            print(f"| {live['rate']:g} | {name} | {a:.1f} | {b:.1f} | {ratio:.3f} | {'yes' if abs(ratio - 1) <= 0.15 else 'no'} |")
    notes.append(f"at {live['rate']:g} req/s {live['completed']} of {live['requests']} live and {sim['completed']} of"
                 f" {sim['requests']} simulated completed, {live['outputTokensPerSecond']:.2f} against"
                 f" {sim['outputTokensPerSecond']:.2f} output tok/s")
print()
print("Requests: " + "; ".join(notes) + f". Largest deviation: {100 * worst:.1f} %.")
