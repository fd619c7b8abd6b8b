#!/usr/bin/env bash
# tandem simulate's speed at cluster scale: tandem plan sizes a 40-machine cluster for the code trace,
# and each size scales that design and its rate up to N GPUs, then simulates one hour of arrivals.
# Writes OUT_DIR/speed.csv (profile, gpus, machines, prompt, token, rate, requests, simulated s,
# simulation s, command s) and the logs. The simulation time is the command's own figure; the command
# time adds the JVM's start, the trace, the plan of arrivals and the unloaded baseline.
#
#   bench/scripts/sim-speed.sh OUT_DIR [GPUS...]     (default 1000 3000 10000)
set -euo pipefail
out=${1:?usage: sim-speed.sh OUT_DIR [GPUS...]}; shift
sizes=${*:-1000 3000 10000}
tandem=${TANDEM:-"$(dirname "$0")/../../tandem"}
profiles=$(dirname "$0")/../profiles
mkdir -p "$out"
echo "profile,gpus,machines,prompt,token,rate,requests,simulated_s,simulation_s,command_s" > "$out/speed.csv"

# profile, GPUs a machine, KV positions a machine
for spec in "h200-mixtral-8x7b 1 300000" "dgx-h100-llama2-70b 8 1500000"; do
  read -r profile gpus_per kv <<< "$spec"
  $tandem plan --trace code --profile "$profiles/$profile.properties" --machines 40 --prompt-kv-tokens "$kv" \
    --token-kv-tokens "$kv" --duration 120 --out "$out/plan-$profile.properties" \
    > "$out/plan-$profile.md" 2> "$out/plan-$profile.log"
  p=$(sed -n 's/^prompt.nodes = //p' "$out/plan-$profile.properties")
  t=$(sed -n 's/^token.nodes = //p' "$out/plan-$profile.properties")
  r=$(sed -n 's/.*SLOs met up to \([0-9.]*\) req.*/\1/p' "$out/plan-$profile.properties")
  for gpus in $sizes; do
    machines=$((gpus / gpus_per))
    prompt=$(( (p * machines + (p + t) / 2) / (p + t) ))
    rate=$(awk -v r="$r" -v m="$machines" -v n="$((p + t))" 'BEGIN { printf "%.1f", r * m / n }')
    cluster="$out/cluster-$profile-$gpus.properties"
    printf 'prompt.nodes = %d\ntoken.nodes = %d\nprompt.kv_tokens = %d\ntoken.kv_tokens = %d\nmixed_threshold_tokens = 4096\n' \
      "$prompt" "$((machines - prompt))" "$kv" "$kv" > "$cluster"
    start=$(date +%s.%N)
    $tandem simulate --trace code --cluster "$cluster" --profile "$profiles/$profile.properties" --rate "$rate" \
      --duration 3600 > "$out/simulate-$profile-$gpus.md" 2> "$out/simulate-$profile-$gpus.log"
    took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
    line=$(grep ' requests, ' "$out/simulate-$profile-$gpus.log" | tail -1)
    requests=$(sed -n 's/.*: \([0-9]*\) requests, .*/\1/p' <<< "$line")
    simulated=$(sed -n 's/.*(simulated \([0-9.]*\) s in \([0-9.]*\) s).*/\1/p' <<< "$line")
    simulation=$(sed -n 's/.*(simulated \([0-9.]*\) s in \([0-9.]*\) s).*/\2/p' <<< "$line")
    echo "$profile,$gpus,$machines,$prompt,$((machines - prompt)),$rate,$requests,$simulated,$simulation,$took" | tee -a "$out/speed.csv"
  done
done
