#!/usr/bin/env bash
# Builds, on this machine, what the GPU machine needs for run-gpu.sh (it has no Java or Maven of its own):
# a small Java runtime, the CUDA backend's classes and tests, the GPU benchmark, and only the jars they load,
# all under the git-ignored .device/ (carried to the GPU machine, kept under the 64 MiB limit).
#
#   bench/device/build-device.sh            # from the repository root; needs ../shared and a local ~/.m2
set -euo pipefail
cd "$(dirname "$0")/../.."
m2=${M2_REPO:-$HOME/.m2/repository}
out=.device
mkdir -p $out/lib $out/build
jar_of() { ls "$m2/$1" | head -1; }
deps=(
  "org/jcuda/jcuda/12.6.0/jcuda-12.6.0.jar"
  "org/jcuda/jcuda-natives/12.6.0/jcuda-natives-12.6.0-linux-x86_64.jar"
  "dev/freshet/freshet-config/0.1.0-SNAPSHOT/freshet-config-0.1.0-SNAPSHOT.jar"
  "dev/freshet/freshet-schemas/0.1.0-SNAPSHOT/freshet-schemas-0.1.0-SNAPSHOT.jar"
  "org/apache/avro/avro/1.12.2/avro-1.12.2.jar"
  "org/slf4j/slf4j-api/2.0.17/slf4j-api-2.0.17.jar"
  "org/junit/jupiter/junit-jupiter-api/5.11.4/junit-jupiter-api-5.11.4.jar"
  "org/junit/jupiter/junit-jupiter-engine/5.11.4/junit-jupiter-engine-5.11.4.jar"
  "org/junit/jupiter/junit-jupiter-params/5.11.4/junit-jupiter-params-5.11.4.jar"
  "org/junit/platform/junit-platform-commons/1.11.4/junit-platform-commons-1.11.4.jar"
  "org/junit/platform/junit-platform-engine/1.11.4/junit-platform-engine-1.11.4.jar"
  "org/junit/platform/junit-platform-launcher/1.11.4/junit-platform-launcher-1.11.4.jar"
  "org/opentest4j/opentest4j/1.3.0/opentest4j-1.3.0.jar"
  "org/apiguardian/apiguardian-api/1.1.2/apiguardian-api-1.1.2.jar"
)
cp_list=""
for d in "${deps[@]}"; do
  [ -f "$m2/$d" ] || { echo "build-device: missing $m2/$d (run a Maven build once)" >&2; exit 1; }
  cp "$m2/$d" $out/lib/
  cp_list="$cp_list:$m2/$d"
done
rm -rf $out/build/classes && mkdir -p $out/build/classes
javac -nowarn -encoding UTF-8 --release 17 -d $out/build/classes -cp "${cp_list#:}" \
  -sourcepath online-trainer/src/main/java:online-trainer/src/test/java:bench/src/main/java \
  $(find online-trainer/src/main/java/dev/freshet/trainer/cuda online-trainer/src/test/java/dev/freshet/trainer/cuda \
         bench/src/main/java/dev/freshet/bench/gpu -name '*.java') bench/device/GpuTestMain.java
mkdir -p $out/build/classes/dev/freshet/trainer/cuda/internal
cp online-trainer/src/main/resources/dev/freshet/trainer/cuda/internal/DlrmKernels.ptx $out/build/classes/dev/freshet/trainer/cuda/internal/
(cd $out/build/classes && jar cf ../../lib/freshet-gpu-run.jar .)
cp ../shared/bench/torch_dlrm_peer.py $out/
# jdk.management: HostMemory reads the machine's RAM; jdk.zipfs: JUnit scans jars; jdk.jfr: a flight recording of a
# GPU run (java -XX:StartFlightRecording=filename=$OUT/x.jfr,settings=profile ...; read it here with `jfr print`).
# A runtime packed before jdk.jfr was added lacks it: delete .device/jre.tar.gz to repack.
[ -f $out/jre.tar.gz ] || ../shared/tools/device-jre.sh $out java.base,java.logging,java.management,jdk.unsupported,jdk.management,jdk.zipfs,jdk.jfr
du -sh $out
