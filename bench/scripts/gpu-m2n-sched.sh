#!/usr/bin/env bash
# Are the multi-millisecond round trips at 2x2 and above the machine taking the threads away (CPU quota,
# steal)? (bench/GPU_NOTES.md, session 12, run 7): cgroup quota and throttling, /proc/stat steal and vmstat
# around the rows, and the same rows with the bench's threads parking instead of spinning.
set -uo pipefail
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
T="$J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -XX:+UseParallelGC -Xmx16g -cp .device/tandem.jar:.device/lib/* dev.tandem.cli.TandemCommand"
echo "nproc $(nproc); cpu.max $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null)"
stat() { echo "$1: $(grep -E 'nr_throttled|throttled_usec' /sys/fs/cgroup/cpu.stat 2>/dev/null | tr '\n' ' ') steal $(awk '/^cpu /{print $9}' /proc/stat)"; }
row() { # label, JVM flags, bench args...
  local label=$1 flags=$2; shift 2
  stat "$label before"
  vmstat 1 > "$OUT/vmstat-$label.txt" & local v=$!
  timeout 90 ${T/-cp /$flags -cp } bench m2n --quick --aeron-log-budget-mib 16384 --transport aeron-ipc "$@" \
    --json "$OUT/sched-$label.json" 2>&1 | grep "^| aeron" | sed "s/^/$label: /"
  kill $v; stat "$label after"
}
row spin "" --device cuda --shape 2x2,4x4 --size 256000,1000000 --repeat 3
row park "-Dtandem.m2n.spin=false" --device cuda --shape 2x2,4x4 --size 256000,1000000 --repeat 3
tail -5 "$OUT/vmstat-spin.txt"
