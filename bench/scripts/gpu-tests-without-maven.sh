#!/usr/bin/env bash
# Runs the GPU-tagged tests from built classes on a GPU machine without Maven (the lent device machine).
# Needs in .device/: jrt.txz (a jlink runtime), junit-platform-console-standalone-1.14.1.jar, lib/ (cli/target/lib),
# tandem.jar, cli-test-classes/ (cli/target/test-classes) and the module classes built here; see
# bench/GPU_NOTES.md, "Running on the lent machine".
set -uo pipefail
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.mem --format=csv
LIBS=$(ls .device/lib/*.jar | grep -v /tandem- | sed 's|^|../|' | tr '\n' ':')
SCHEDULING=$(ls .device/lib/tandem-scheduling-*.jar | sed 's|^|../|') # the engine's batching, which core's Generator runs
run() { # dir, classpath, selector...
  local dir=$1 cp=$2; shift 2
  (cd "$dir" && $J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -Dtandem.requireGpu=true ${JOPTS:-} \
    -jar ../.device/junit-platform-console-standalone-1.14.1.jar execute -cp "$cp" --include-tag gpu \
    --details=tree --disable-banner "$@")
}
{
  run cuda ../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$LIBS \
    --select-package dev.tandem.cuda
  run scheduler ../scheduler/target/classes:../scheduler/target/test-classes:../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$LIBS \
    --select-class dev.tandem.scheduler.http.CompletionsParityTest
  # the in-JVM AFD cluster on the GPU: cli's test classes staged in .device/cli-test-classes, the node
  # modules from their jars
  NODES=$(ls .device/lib/tandem-{attention-node,expert-node,m2n-transport,scheduler,bench}-*.jar | sed 's|^|../|' | tr '\n' ':')
  run cli ../.device/cli-test-classes:../.device/tandem.jar:../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$SCHEDULING:../core/target/test-classes:$NODES$LIBS \
    --select-class dev.tandem.cli.CudaClusterParityTest
} 2>&1 | tee "${OUT:-/tmp}/tests.log" | grep -v "^WARNING" | tail -150
