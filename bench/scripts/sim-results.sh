#!/usr/bin/env bash
# Every table of bench/SIM_RESULTS.md that tandem plan and tandem simulate produce (the speed table
# has sim-speed.sh, the check against a live run sim-vs-live.sh). Minutes on a 2-core machine.
#
#   bench/scripts/sim-results.sh OUT_DIR [TRACES]      (TRACES default: "conv code")
set -euo pipefail
out=${1:?usage: sim-results.sh OUT_DIR [TRACES]}
traces=${2:-conv code}
tandem=${TANDEM:-"$(dirname "$0")/../../tandem"}
p=$(dirname "$0")/../profiles
mkdir -p "$out"

# eight H200s, one whole Mixtral-8x7B each: the best split, then that design at three rates
$tandem plan --trace conv --profile "$p/h200-mixtral-8x7b.properties" --machines 8 --prompt-kv-tokens 300000 \
  --token-kv-tokens 300000 --duration 300 --out "$out/plan-h200-8-conv.properties" \
  > "$out/plan-h200-8-conv.md" 2> "$out/plan-h200-8-conv.log"
$tandem simulate --trace conv --cluster "$out/plan-h200-8-conv.properties" --profile "$p/h200-mixtral-8x7b.properties" \
  --rates 20,30,45 --duration 300 --markdown "$out/simulate-h200-8-conv.md" --power-plot "$out/sim-power.png" \
  > /dev/null 2> "$out/simulate-h200-8-conv.log"

# Splitwise's designs at the power of 40 DGX-H100s (408 kW): prompt machines H100, token machines
# H100, A100 or power-capped H100; the baseline is the 40 + 0 row of the H100 plan (whole requests)
for trace in $traces; do
  for token in dgx-h100-llama2-70b dgx-a100-llama2-70b dgx-h100-pcap-llama2-70b; do
    name=$trace-${token%-llama2-70b}
    $tandem plan --trace "$trace" --prompt-profile "$p/dgx-h100-llama2-70b.properties" --token-profile "$p/$token.properties" \
      --budget-power 408000 --prompt-kv-tokens 1500000 --token-kv-tokens 1500000 --duration 120 \
      --out "$out/plan-isopower-$name.properties" > "$out/plan-isopower-$name.md" 2> "$out/plan-isopower-$name.log"
    echo "$name: $(head -1 "$out/plan-isopower-$name.properties")"
  done
done

# POLCA: more H100s than 408 kW provisions at peak, simulated under 408 kW with dynamic capping (token
# machines first, from the profile's cap curve); each winner then at its rate, for how much was capped
for trace in $traces; do
  for f in ${OVERSUBSCRIBE:-1.1 1.2 1.3 1.4 1.5}; do
    name=$trace-oversubscribe-$f
    $tandem plan --trace "$trace" --profile "$p/dgx-h100-llama2-70b.properties" --budget-power 408000 \
      --oversubscribe "$f" --prompt-kv-tokens 1500000 --token-kv-tokens 1500000 --duration 120 \
      --out "$out/plan-$name.properties" > "$out/plan-$name.md" 2> "$out/plan-$name.log"
    rate=$(sed -n 's/.*SLOs met up to \([0-9.]*\) req.*/\1/p' "$out/plan-$name.properties")
    $tandem simulate --trace "$trace" --cluster "$out/plan-$name.properties" --profile "$p/dgx-h100-llama2-70b.properties" \
      --rate "$rate" --duration 120 --markdown "$out/simulate-$name.md" > /dev/null 2> "$out/simulate-$name.log"
    echo "$name: $(head -1 "$out/plan-$name.properties")"
  done
done
