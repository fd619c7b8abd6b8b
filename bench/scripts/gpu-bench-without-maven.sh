#!/usr/bin/env bash
# tandem bench gpu, then the transformers peer, on a GPU machine without Maven (the lent device machine).
# Needs in .device/: jrt.txz, tandem.jar and lib/ (cli/target); see bench/GPU_NOTES.md.
set -uo pipefail
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.mem,power.draw --format=csv
export TANDEM_CACHE=/tmp/tandem-cache
$J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
  -XX:+UseParallelGC -Xmx48g ${JOPTS:-} -cp ".device/tandem.jar:.device/lib/*" dev.tandem.cli.TandemCommand bench gpu \
  --json "$OUT/tandem.json" ${TANDEM_BENCH_ARGS:-} 2>&1 | grep -v "^WARNING" | tee "$OUT/tandem.log"
if [ "${PEER:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 python3 bench/scripts/gpu_peer.py --json "$OUT/peer.json" ${PEER_ARGS:-} 2>&1 | tee "$OUT/peer.log" | grep "peer:"
fi
