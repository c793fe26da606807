#!/usr/bin/env bash
# Every GPU check of the open issues in one short run (about 6 minutes on an H200): tests/test_gpu.py,
# Fastfood/sparse on CUDA and the dense/Fastfood/sparse rule grid there (projections.py --only gpu,rule),
# DQN/PPO update steps on CUDA (agents.py),
# the Pong ES loop against AtariVectorEnv alone (pong.py) and MNIST-FC trials/hour batched vs one
# at a time (supervised.py). Each writes its JSON to $OUT (or ./device-out).
#
# Prepare here with `bash benchmarks/device_wheels.sh`, then on the device machine:
#     run(command="bash benchmarks/device_check.sh", carry=[".whl", ".data"], timeout_s=540)
# QUICK=1 runs tiny sizes (a smoke test of this script; it works on a CPU machine too).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-device-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if [ -d .whl ] && [ -z "${SKIP_INSTALL:-}" ]; then  # SKIP_INSTALL=1: use the current environment
    ${PYTHON:-python3} -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    ${PYTHON:-python3} -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 1
    export PYTHONPATH=/tmp/site
fi
[ -d .data/mnist ] && export RLSUB_DATA_DIR=$PWD/.data/mnist
py=${PYTHON:-python3}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
dev=$($py -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
q=${QUICK:+--quick}
status=0
step() {  # name, command...: run one benchmark, keep going after a failure
    local name=$1; shift
    echo "=== $name: $*"
    local t0=$SECONDS
    "$@" --json "$out/$name.json" 2>&1 | tee "$out/$name.log" || status=1
    echo "=== $name: $((SECONDS - t0)) s"
}
# Correctness first: the CUDA paths against their CPU results (cwd tests/, so that the installed
# rlsub, not the source folder without its agents/envs mapping, is imported).
echo "=== gpu tests"
(cd tests && $py -m pytest -q -p no:cacheprovider -c ../pyproject.toml test_gpu.py) 2>&1 | tee "$out/gpu_tests.log" || status=1
step projections $py benchmarks/projections.py --only gpu,rule --device "$dev" $q
step agents $py benchmarks/agents.py --device "$dev" --rounds 8 --steps 20 ${QUICK:+--rounds 1 --steps 2}
step pong $py benchmarks/pong.py --device "$dev" --pop 64 --steps 300 --rounds 3 --threads 4 $q
if [ -n "${RLSUB_DATA_DIR:-}" ]; then
    step supervised $py benchmarks/supervised.py --task mnist-fc --device "$dev" --dim 750 --batch 8,32 \
        --projection dense,fastfood --budget 60000 --single 2 $q ${QUICK:+--projection fastfood --batch 2}
fi
exit $status
