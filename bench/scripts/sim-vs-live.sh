#!/usr/bin/env bash
# tandem simulate against a live tandem serve on this machine: the same trace slice at the same rate,
# the same token budget and KV cache, the simulated machine timed by a profile that tandem profile
# measured here just before. Writes OUT_DIR/{profile.properties, live.json, sim.json, compare.md}.
#
#   bench/scripts/sim-vs-live.sh OUT_DIR [RATES] [DURATION_S] [TRACE]     (RATES: comma-separated req/s)
set -euo pipefail
out=${1:?usage: sim-vs-live.sh OUT_DIR [RATES] [DURATION_S] [TRACE]}
rates=${2:-1}
duration=${3:-120}
trace=${4:-conv}
tandem=${TANDEM:-"$(dirname "$0")/../../tandem"}
model=${MODEL:-models/mixtral-small}
budget=${BUDGET:-256}
kv=${KV_TOKENS:-16384}
threads=${THREADS:-1} # the engine's kernel threads: the other core serves HTTP and the replaying client
limits=(--max-prompt "${MAX_PROMPT:-512}" --max-output "${MAX_OUTPUT:-64}")
mkdir -p "$out"
[ -f "$model/config.json" ] || $tandem synth --preset mixtral-small --out "$model"

# the profile: prompts within the budget (the engine chunks longer ones), decode batches the load will hold
$tandem profile --model "$model" --threads "$threads" --max-batch-tokens "$budget" --mixed-prefill-factor "${MIXED_FACTOR:-0}" \
  --prefill-tokens 32,128,256 --batch-sizes 1,4,16 --contexts 64,512 --name "cpu-$(basename "$model")" \
  --out "$out/profile.properties" 2> "$out/profile.log"

port_file="$out/serve.port"; rm -f "$port_file"
$tandem serve --model "$model" --threads "$threads" --max-batch-tokens "$budget" --kv-tokens "$kv" --port 0 --port-file "$port_file" \
  2> "$out/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do [ -s "$port_file" ] && break; sleep 0.2; done
$tandem bench serve --url "http://127.0.0.1:$(cat "$port_file")" --trace "$trace" --rates "$rates" \
  --duration "$duration" "${limits[@]}" --baseline-requests 4 --drain 300 --json "$out/live.json" --markdown "$out/live.md" 2> "$out/live.log"

printf 'prompt.nodes = 0\ntoken.nodes = 1\nprompt.kv_tokens = %d\ntoken.kv_tokens = %d\nmixed_threshold_tokens = 4096\n' \
  "$kv" "$kv" > "$out/cluster.properties"
$tandem simulate --trace "$trace" --cluster "$out/cluster.properties" --profile "$out/profile.properties" --rates "$rates" \
  --duration "$duration" "${limits[@]}" --baseline-requests 4 --json "$out/sim.json" --markdown "$out/sim.md" \
  2> "$out/sim.log"
python3 "$(dirname "$0")/compare_sim_live.py" "$out/live.json" "$out/sim.json" | tee "$out/compare.md"
