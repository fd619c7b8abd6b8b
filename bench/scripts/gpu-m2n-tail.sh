#!/usr/bin/env bash
# Where 2x2 at 1 MB a peer gets its multi-millisecond p99 (bench/GPU_NOTES.md, session 12, run 5): the
# same row alone in a JVM, repeated; bigger terms (rotation); host rows; one side doubled; 2 MB; staged rows.
set -uo pipefail
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
export TANDEM_CACHE=/tmp/tandem-cache
T="$J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -XX:+UseParallelGC -Xmx16g -cp .device/tandem.jar:.device/lib/* dev.tandem.cli.TandemCommand"
row() { # label, JVM flags, bench args...
  local label=$1 flags=$2; shift 2
  timeout 90 ${T/-cp /$flags -cp } bench m2n --quick --aeron-log-budget-mib 16384 --transport aeron-ipc "$@" --json "$OUT/tail-$label.json" 2>&1 \
    | grep "^| aeron" | sed "s/^/$label: /"
}
row alone-r3 "" --device cuda --shape 2x2 --size 1000000 --repeat 3
row term32 "-Dtandem.m2n.termFrames=32" --device cuda --shape 2x2 --size 1000000 --repeat 3
row term64 "-Dtandem.m2n.termFrames=64" --device cuda --shape 2x2 --size 1000000
row host "" --device cpu --shape 2x2 --size 1000000 --repeat 3
row one-two "" --device cuda --shape 1x2,2x1 --size 1000000 --repeat 3
row sizes "" --device cuda --shape 2x2 --size 512000,2000000
row staged "-Dtandem.m2n.deviceRows=staged" --device cuda --shape 2x2 --size 1000000 --repeat 3
row alone-again "" --device cuda --shape 2x2 --size 1000000 --repeat 3
