#!/usr/bin/env bash
# Splitwise (prompt machines + AFD token groups) against the same number of colocated machines,
# at rising request rates of the Azure code and conversation traces, on a synthetic
# Mixtral-shaped checkpoint. Each layout runs as separate processes behind the HTTP API
# (tandem local), and tandem bench serve replays the trace against it.
#
#   [LAYOUTS="splitwise colocated"] bench/scripts/serve-compare.sh OUT_DIR [THREADS_PER_NODE] [RATES] [DURATION_S]
set -euo pipefail
out=${1:?usage: serve-compare.sh OUT_DIR [THREADS_PER_NODE] [RATES] [DURATION_S]}
threads=${2:-4}
rates=${3:-1,2,4,8}
duration=${4:-30}
tandem=${TANDEM:-"$(dirname "$0")/../../tandem"}
model=${MODEL:-models/mixtral-small}
mkdir -p "$out"
[ -f "$model/config.json" ] || $tandem synth --preset mixtral-small --out "$model"

run() { # name, then tandem local's layout options
  local name=$1; shift
  local port_file="$out/$name.port"; rm -f "$port_file"
  $tandem local --model "$model" --node-threads "$threads" --max-batch-tokens 512 --kv-tokens 32768 \
    --port 0 --port-file "$port_file" "$@" 2> "$out/$name.server.log" &
  local server=$!
  for _ in $(seq 600); do [ -s "$port_file" ] && break; sleep 0.2; done
  for trace in code conv; do
    $tandem bench serve --url "http://127.0.0.1:$(cat "$port_file")" --trace "$trace" --rates "$rates" \
      --duration "$duration" --max-prompt 1024 --max-output 128 --baseline-requests 6 --drain 120 \
      --json "$out/$name-$trace.json" --markdown "$out/$name-$trace.md" 2> "$out/$name-$trace.log"
  done
  kill -TERM $server; wait $server || true
}

# three processes each: one prompt machine + one token group (1 attention + 1 expert node)…
layouts=${LAYOUTS:-"splitwise splitwise-nomix colocated"}
[[ " $layouts " == *" splitwise "* ]] && run splitwise --prompt-nodes 1 --token-groups 1 --attention-nodes 1 --expert-nodes 1 --micro-batches 2
# …the same without the mixed pool (the token machine never takes prompts)…
[[ " $layouts " == *" splitwise-nomix "* ]] && run splitwise-nomix --prompt-nodes 1 --token-groups 1 --attention-nodes 1 \
  --expert-nodes 1 --micro-batches 2 --mixed-threshold-tokens 1000000000
# …against three colocated machines (each runs whole requests)
[[ " $layouts " == *" colocated "* ]] && run colocated --prompt-nodes 3 --token-groups 0
true
