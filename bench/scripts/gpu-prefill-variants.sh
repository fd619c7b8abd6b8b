#!/usr/bin/env bash
# bench gpu's prefill under each of VARIANTS (space-separated: "default" or one -D flag each, for A/B runs
# such as -Dtandem.cuda.expertGroups=float32), then a kernel profile of the default's 2048-token prefill
# (PROFILE=0 skips it); a variant of several flags joins them with commas; needs .device staged as bench/GPU_NOTES.md says.
set -uo pipefail
[ -x /tmp/jrt/bin/java ] || tar xJf .device/jrt.txz -C /tmp
export TANDEM_CACHE=/tmp/tandem-cache
T="/tmp/jrt/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -XX:+UseParallelGC -Xmx48g"
ARGS="--batch-sizes ${BATCHES:-1} --decode-tokens 8 --prefill-tokens ${PREFILL:-512,2048}"
n=0
for v in ${VARIANTS:-default -Dtandem.cuda.expertGroups=float32}; do
  n=$((n+1)); flag=${v//,/ }; [ "$v" = default ] && flag=""
  echo "== variant $n: $v"
  timeout 150 $T $flag -cp ".device/tandem.jar:.device/lib/*" dev.tandem.cli.TandemCommand bench gpu $ARGS \
    --json "$OUT/prefill-$n.json" 2>&1 | grep -E "expert GEMMs|prefill|decode batch|copy |Exception|rror" | grep -v "^|"
done
if [ "${PROFILE:-1}" = 1 ]; then
  echo "== profile (default)"
  timeout 150 $T -Dtandem.cuda.profile=true -cp ".device/tandem.jar:.device/lib/*" dev.tandem.cli.TandemCommand bench gpu \
    --batch-sizes 1 --decode-tokens 2 --prefill-tokens 2048 2>&1 | grep -v "^WARNING" > "$OUT/profile.log"
  grep -A30 "profile of prefill" "$OUT/profile.log" | head -32
fi
