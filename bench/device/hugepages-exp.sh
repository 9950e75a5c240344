#!/usr/bin/env bash
# Experiment (run on the GPU machine): host tables registered in 2 MiB-aligned memory with transparent huge pages
# (glibc.malloc.hugetlb=1 makes malloc madvise its mmap'd chunks) against cuMemHostAlloc; kaggle16 cache figures.
set -uo pipefail
out=${OUT:-device-out}; mkdir -p "$out"
tar -xzf .device/jre.tar.gz -C /tmp && export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
cp=".device/lib/*"
{ ldd --version | head -1; cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag; grep -i huge /proc/meminfo; } > "$out/env.txt" 2>&1
watch_huge() { while sleep 5; do echo "$(date +%T) $(grep AnonHugePages /proc/meminfo)"; done; }
watch_huge > "$out/anonhuge.log" 2>&1 & w=$!
for mode in ${MODES:-pinned huge pinned huge}; do
  if [ $mode = huge ]; then export GLIBC_TUNABLES=glibc.malloc.hugetlb=1; else unset GLIBC_TUNABLES; fi; props=""
  if [ "${OVERLAP:-1}" = 1 ]; then
    echo "== $mode: GpuCacheBench --overlap" | tee -a "$out/exp.log"
    java -Xmx40g $props -cp "$cp" dev.freshet.bench.gpu.GpuCacheBench --configs kaggle16 --batches 16384 --overlap ${OVERLAP_ARGS:-} 2>&1 | tee -a "$out/exp.log"
  fi
  for transfer in ${TRANSFERS:-auto}; do
    echo "== $mode $transfer: TrainerGpuBench" | tee -a "$out/exp.log"
    java -Xmx24g $props -cp "$cp" dev.freshet.bench.gpu.TrainerGpuBench --configs ${TG_CONFIGS:-kaggle16} --batches ${TG_BATCHES:-16384,65536} --dtypes ${TG_DTYPES:-bf16,fp32} --optimizers sgd --api-path false --cache-transfer $transfer ${TG_ARGS:-} --out "$out/tg-$mode-$transfer.json" 2>&1 | grep -E "cache|Exception|rror|at dev" | tee -a "$out/exp.log"
  done
done
if [ "${TESTS:-1}" = 1 ]; then
  java -Xmx8g -cp "$cp" GpuTestMain dev.freshet.trainer.cuda.CudaVersusCpuGpuTest dev.freshet.trainer.cuda.internal.CacheSwapGpuTest dev.freshet.trainer.cuda.internal.CacheTransferGpuTest dev.freshet.trainer.cuda.internal.HostRowMoverTest 2>&1 | tail -30 | tee "$out/tests-pinned.log"
  export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
  java -Xmx8g -cp "$cp" GpuTestMain dev.freshet.trainer.cuda.CudaVersusCpuGpuTest dev.freshet.trainer.cuda.internal.CacheSwapGpuTest dev.freshet.trainer.cuda.internal.CacheTransferGpuTest 2>&1 | tail -30 | tee "$out/tests-huge.log"
fi
kill $w
