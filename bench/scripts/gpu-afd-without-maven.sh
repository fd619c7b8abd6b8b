#!/usr/bin/env bash
# GPU tests (cuda with CUDA_TESTS=1, the AFD cluster, the scheduler with SCHED_TESTS=1, tandem local on the GPU with SPLITWISE=1), each under a deadline with a thread dump past it, then bench m2n (M2N=1, M2N_STAGED=1 for the staged rows beside it, M2N_VARIANTS for flags at 2x2, over M2N_VARIANT_TRANSPORTS), bench kv (KV=1, KV_STAGED=1 beside it, KV_VARIANTS for flags) and bench decode on the GPU (DECODE=0 skips it); needs .device staged as bench/GPU_NOTES.md says.
set -uo pipefail
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
export TANDEM_CACHE=/tmp/tandem-cache
LIBS=$(ls .device/lib/*.jar | grep -v /tandem- | sed 's|^|../|' | tr '\n' ':')
SCHEDULING=$(ls .device/lib/tandem-scheduling-*.jar | sed 's|^|../|') # the engine's batching, which core's Generator runs
onpath() { # name, deadline, dir, classpath, selector...: the classes on java.class.path, which node processes inherit
  local name=$1 deadline=$2 dir=$3 cp=$4; shift 4
  (cd "$dir" && exec $J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -Dtandem.requireGpu=true \
    -cp "$cp:../.device/junit-platform-console-standalone-1.14.1.jar" org.junit.platform.console.ConsoleLauncher \
    execute --include-tag gpu --details=tree --disable-banner "$@") > "$OUT/$name.log" 2>&1 &
  local pid=$! t=0
  while kill -0 $pid 2>/dev/null && [ $t -lt $deadline ]; do sleep 1; t=$((t+1)); done
  if kill -0 $pid 2>/dev/null; then
    echo "$name: past ${deadline}s, thread dump"; kill -QUIT $pid; sleep 3; kill -9 $pid; pkill -9 -f TandemCommand
  fi
  wait $pid; echo "$name rc $? after ${t}s"
  grep -E "tests (successful|failed)" "$OUT/$name.log"
}
guarded() { # name, deadline, dir, classpath, selector...
  local name=$1 deadline=$2 dir=$3 cp=$4; shift 4
  (cd "$dir" && exec $J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -Dtandem.requireGpu=true \
    -jar ../.device/junit-platform-console-standalone-1.14.1.jar execute -cp "$cp" --include-tag gpu \
    --details=tree --disable-banner "$@") > "$OUT/$name.log" 2>&1 &
  local pid=$! t=0
  while kill -0 $pid 2>/dev/null && [ $t -lt $deadline ]; do sleep 1; t=$((t+1)); done
  if kill -0 $pid 2>/dev/null; then
    echo "$name: past ${deadline}s, thread dump"; kill -QUIT $pid; sleep 3; kill -QUIT $pid; sleep 2; kill -9 $pid
  fi
  wait $pid; echo "$name rc $? after ${t}s"
  grep -E "tests (successful|failed)" "$OUT/$name.log"
}
[ -n "${CUDA_TESTS:-}" ] && guarded cuda 120 cuda ../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$LIBS \
    --select-package dev.tandem.cuda
NODES=$(ls .device/lib/tandem-{attention-node,expert-node,m2n-transport,scheduler,bench}-*.jar | sed 's|^|../|' | tr '\n' ':')
guarded cluster 150 cli ../.device/cli-test-classes:../.device/tandem.jar:../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$NODES$LIBS \
    --select-class dev.tandem.cli.CudaClusterParityTest --select-class dev.tandem.cli.CudaKvTransferTest
[ -n "${SCHED_TESTS:-}" ] && guarded sched 75 scheduler ../scheduler/target/classes:../scheduler/target/test-classes:../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$LIBS \
    --select-class dev.tandem.scheduler.http.CompletionsParityTest
T="$J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -XX:+UseParallelGC -Xmx16g -cp .device/tandem.jar:.device/lib/* dev.tandem.cli.TandemCommand"
[ -n "${M2N:-}" ] && timeout 120 $T bench m2n --device cuda --quick --shape 1x1,2x2 --size 16000,256000,1000000 --transport aeron-ipc,memcpy \
  --json "$OUT/m2n.json" --plot "$OUT/m2n.png" 2>&1 | grep -v "^WARNING" | tee "$OUT/m2n.log" | grep -v "^m2n:"
[ -n "${M2N:-}" ] && grep -m2 "^m2n:" "$OUT/m2n.log"
# M2N_STAGED=1: the same with the rows staged through the batch's host rows (the way before DMA into the term buffers)
[ -n "${M2N_STAGED:-}" ] && timeout 120 ${T/-cp /-Dtandem.m2n.deviceRows=staged -cp } bench m2n --device cuda --quick --shape 1x1,2x2 \
  --size 16000,256000,1000000 --transport aeron-ipc --json "$OUT/m2n-staged.json" 2>&1 | grep -v "^WARNING" | tee "$OUT/m2n-staged.log" | grep -v "^m2n:"
# M2N_VARIANTS="label=-Dflag=value,-Dflag2=value label2=...": 2x2 at 256 KB and 1 MB once per variant, flags on the JVM
for v in ${M2N_VARIANTS:-}; do
  label=${v%%=*}; flags=${v#*=}; flags=${flags//,/ }
  timeout 60 ${T/-cp /$flags -cp } bench m2n --device cuda --quick --shape 2x2 --size 256000,1000000 --transport ${M2N_VARIANT_TRANSPORTS:-aeron-ipc} \
    --json "$OUT/m2n-$label.json" 2>&1 | grep -v "^WARNING" | grep -v "^m2n:" | sed "s/^/$label: /"
done
[ -n "${KV:-}" ] && timeout 120 $T bench kv --device cuda --json "$OUT/kv.json" 2>&1 | grep -v "^WARNING" | tee "$OUT/kv.log"
# KV_VARIANTS="label=-Dflag=value,... label2=...": bench kv once per variant, flags on the JVM
for v in ${KV_VARIANTS:-}; do
  label=${v%%=*}; flags=${v#*=}; flags=${flags//,/ }
  timeout 120 ${T/-cp /$flags -cp } bench kv --device cuda --json "$OUT/kv-$label.json" 2>&1 | grep -v "^WARNING" | sed "s/^/$label: /"
done
# KV_STAGED=1: the same through the sender's staging frame and the receiver's reassembly (the way before)
[ -n "${KV_STAGED:-}" ] && timeout 120 ${T/-cp /-Dtandem.kv.deviceRows=staged -cp } bench kv --device cuda \
  --json "$OUT/kv-staged.json" 2>&1 | grep -v "^WARNING" | tee "$OUT/kv-staged.log"
if [ "${DECODE:-1}" = 1 ]; then
$T synth --preset mixtral-8x7b --describe-only --out /tmp/m8x7 2>&1 | grep -v "^WARNING"
nvidia-smi --query-gpu=name,memory.used,clocks.sm,clocks.mem --format=csv,noheader
timeout ${BENCH_S:-380} $T bench decode --device cuda --model /tmp/m8x7 ${DECODE_ARGS:---batch-sizes 32,128 --micro-batches 1,2 --layouts 1x1,1x2} \
  --json "$OUT/decode.json" 2>&1 | grep -v "^WARNING" | tee "$OUT/decode.log" | grep -v "^tandem: \(device\|expert GEMMs\|decode steps\|KV cache\)"
echo "bench rc ${PIPESTATUS[0]}"
fi
[ -n "${SPLITWISE:-}" ] && onpath splitwise ${SPLITWISE_S:-90} cli ../.device/cli-test-classes:../.device/tandem.jar:../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$NODES$LIBS \
    --select-method 'dev.tandem.cli.LocalServingHttpTest#shouldServeTransformersGreedyTokensFromSplitPoolsOnTheGpu(java.lang.String)'
