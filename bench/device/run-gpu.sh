#!/usr/bin/env bash
# Runs on the GPU machine (repository root, .device/ carried; built by bench/device/build-device.sh):
#   bench/device/run-gpu.sh tests                 the CUDA tests (CUDA vs CPU backend), JUnit summary
#   bench/device/run-gpu.sh bench [BENCH ARGS]    the PyTorch peer, then TrainerGpuBench with its figures
#   bench/device/run-gpu.sh all [BENCH ARGS]      both
# Logs and bench/results/trainer-gpu.json go to $OUT (or ./device-out when OUT is unset). GEMM_BENCH=0 and
# CACHE_BENCH=0 skip the GEMM and GPU cache diagnostics (GemmBench, GpuCacheBench) that run before TrainerGpuBench.
set -uo pipefail
mode=${1:-all}; shift || true
out=${OUT:-device-out}; mkdir -p "$out"
tar -xzf .device/jre.tar.gz -C /tmp && export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm --format=csv | tee "$out/gpu.txt"
cp=".device/lib/*"
# as the freshet launcher does: glibc advises huge pages for large chunks, so the cache's host tables get them (THP madvise)
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
rc=0
if [ "$mode" = tests ] || [ "$mode" = all ]; then
  tests="dev.freshet.trainer.cuda.internal.DlrmKernelsGpuTest dev.freshet.trainer.cuda.CudaVersusCpuGpuTest dev.freshet.trainer.cuda.internal.GpuCacheDirectoryGpuTest dev.freshet.trainer.cuda.internal.CacheSwapGpuTest dev.freshet.trainer.cuda.internal.CacheTransferGpuTest dev.freshet.trainer.cuda.internal.HostRowMoverTest dev.freshet.trainer.cuda.CudaOptionsTest"
  echo "== CUDA tests: java GpuTestMain $tests"
  java -Xmx8g -cp "$cp" GpuTestMain $tests 2>&1 | tee "$out/tests.log" || rc=1
fi
if [ "$mode" = bench ] || [ "$mode" = all ]; then
  peer_args=${PEER_ARGS:-}
  if [ -n "${PEER_LOG:-}" ]; then
    echo "== PyTorch peer: not run; its figures from $PEER_LOG (an earlier call on the same kind of machine)"
    cp "$PEER_LOG" "$out/peer.log"
  else
    echo "== PyTorch peer: python3 torch_dlrm_peer.py $peer_args"
    PYTHONUNBUFFERED=1 python3 .device/torch_dlrm_peer.py $peer_args 2>&1 | tee "$out/peer.log"
  fi
  if [ "${GEMM_BENCH:-1}" = 1 ]; then
    echo "== GEMM kernels: GemmBench"
    java -cp "$cp" dev.freshet.bench.gpu.GemmBench 2>&1 | tee "$out/gemm.log"
  fi
  if [ "${CACHE_BENCH:-1}" = 1 ]; then
    echo "== GPU cache diagnostics: GpuCacheBench"
    java -Xmx40g -XX:+UseTransparentHugePages -cp "$cp" dev.freshet.bench.gpu.GpuCacheBench 2>&1 | tee "$out/cache.log"
  fi
  echo "== Freshet CUDA backend: TrainerGpuBench $*"
  java -Xmx24g -XX:+UseTransparentHugePages -cp "$cp" dev.freshet.bench.gpu.TrainerGpuBench --peer "$out/peer.log" --out "$out/trainer-gpu.json" \
    --command "bench/device/build-device.sh, then on the GPU machine: GEMM_BENCH=${GEMM_BENCH:-1} CACHE_BENCH=${CACHE_BENCH:-1} bench/device/run-gpu.sh $mode $* (peer: python3 torch_dlrm_peer.py $peer_args${PEER_LOG:+, figures from $PEER_LOG})" "$@" 2>&1 | tee "$out/bench.log" || rc=1
fi
exit $rc
