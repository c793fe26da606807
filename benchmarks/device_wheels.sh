#!/usr/bin/env bash
# Prepare, on this (CPU) machine, what benchmarks/device_check.sh needs on the GPU box, whose Python
# (3.12, torch with CUDA) lacks gymnasium, ale-py and cma and cannot download: their wheels go to
# .whl/ and the MNIST IDX files to .data/mnist/ (both git-ignored; name them in the device call's carry).
#
#     bash benchmarks/device_wheels.sh [MNIST_DIR]      # default ../shared/data/mnist
set -euo pipefail
cd "$(dirname "$0")/.."
mnist=${1:-../shared/data/mnist}
rm -rf .whl .data/mnist
mkdir -p .whl .data/mnist
# The versions this project is tested with (keep one version of each: two stop the install there).
for pkg in gymnasium==1.4.0 farama-notifications==0.0.6 ale-py==0.12.1 cma==4.5.0; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pkg"
done
cp "$mnist"/*-ubyte* .data/mnist/
du -sh .whl .data/mnist
