#!/usr/bin/env bash
# Is M2N over IPC bound by the media driver zeroing what subscribers consumed (bench/GPU_NOTES.md,
# session 12, run 6)? One core's memset bandwidth, then 2x2 rows under driver threading modes and
# publication windows.
set -uo pipefail
gcc -O2 -o /tmp/ms bench/scripts/probe/memset.c && /tmp/ms
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
T="$J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -XX:+UseParallelGC -Xmx16g -cp .device/tandem.jar:.device/lib/* dev.tandem.cli.TandemCommand"
row() { # label, JVM flags, bench args...
  local label=$1 flags=$2; shift 2
  timeout 90 ${T/-cp /$flags -cp } bench m2n --quick --aeron-log-budget-mib 16384 --transport aeron-ipc "$@" \
    --json "$OUT/zero-$label.json" 2>&1 | grep "^| aeron" | sed "s/^/$label: /"
}
row shared "" --device cuda --shape 2x2 --size 256000,1000000 --repeat 3
row dedicated "-Dtandem.m2n.threading=DEDICATED" --device cuda --shape 2x2 --size 256000,1000000 --repeat 3
row window1m "-Dtandem.m2n.ipcWindow=1048576" --device cuda --shape 2x2 --size 256000 --repeat 3
row window4m "-Dtandem.m2n.ipcWindow=4194304" --device cuda --shape 2x2 --size 256000,1000000 --repeat 3
row host1x1 "" --device cpu --shape 1x1,2x2 --size 1000000 --repeat 3
row 4x4 "" --device cuda --shape 4x4 --size 256000 --repeat 3
