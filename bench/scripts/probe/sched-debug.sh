# The GPU CompletionsParityTest under variants: the scheduling jar (the final one, or .device/old/: commit
# 6407880~1's, before decode-first: git worktree add /tmp/old 6407880~1; ./mvnw -pl scheduling package there)
# and CUDA graphs on or off.
tar xJf .device/jrt.txz -C /tmp
J=/tmp/jrt/bin/java
export TANDEM_CACHE=/tmp/tandem-cache
LIBS=$(ls .device/lib/*.jar | grep -v /tandem- | sed 's|^|../|' | tr '\n' ':')
for v in new:true old:true new:false; do
  jar=${v%%:*}; graphs=${v#*:}
  S=$( [ "$jar" = old ] && echo ../.device/old/tandem-scheduling-0.1.0-SNAPSHOT.jar || ls .device/lib/tandem-scheduling-*.jar | sed 's|^|../|')
  CP=../scheduler/target/classes:../scheduler/target/test-classes:../cuda/target/classes:../cuda/target/test-classes:../core/target/classes:$S:../core/target/test-classes:$LIBS
  (cd scheduler && timeout -s QUIT -k 5 30 $J -Dtandem.cuda.graphs=$graphs --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED -Dtandem.requireGpu=true \
    -jar ../.device/junit-platform-console-standalone-1.14.1.jar execute -cp "$CP" --include-tag gpu \
    --details=tree --disable-banner --select-class dev.tandem.scheduler.http.CompletionsParityTest) > "$OUT/sched-$jar-$graphs.log" 2>&1
  echo "$v rc $?"; grep -E "tests (successful|failed)|✘|✔|expected" "$OUT/sched-$jar-$graphs.log" | head -6
  sleep 2; pkill -9 -f ConsoleLauncher; pkill -9 -f junit-platform-console
done
