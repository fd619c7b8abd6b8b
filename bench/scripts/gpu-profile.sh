#!/usr/bin/env bash
# tandem profile on the lent H200: the full Mixtral-8x7B shape, synthetic bf16 weights made on the device
# (bench/SIM_RESULTS.md). Needs .device staged as bench/GPU_NOTES.md says; writes $OUT/h200-mixtral-8x7b.properties.
set -uo pipefail
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
export TANDEM_CACHE=/tmp/tandem-cache
T="$J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -XX:+UseParallelGC -Xmx16g -cp .device/tandem.jar:.device/lib/* dev.tandem.cli.TandemCommand"
nvidia-smi --query-gpu=name,memory.used,clocks.sm,power.draw --format=csv,noheader
timeout 500 $T profile --device cuda --preset mixtral-8x7b --prefill-tokens 512,1024,2048 --batch-sizes 8,32,128 \
  --contexts 128,1024 --decode-tokens 32 --name h200-mixtral-8x7b --out "$OUT/h200-mixtral-8x7b.properties" 2>&1 \
  | grep -v "^WARNING"
cat "$OUT/h200-mixtral-8x7b.properties"
