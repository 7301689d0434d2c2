#!/usr/bin/env bash
# Wheels the device machine's python3 (3.12, x86-64, no internet) lacks for bench/gpu.sh, into .whl/
# (git-ignored); the device run carries it (carry [".whl"]) and gpu.sh installs it into /tmp.
# The versions are this project's: our generated stubs need protobuf >= 7.35.1 and grpcio >= 1.85.1.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  protobuf==7.36.2 grpcio==1.85.3 grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1 \
  redis==8.1.0 pydicom==3.0.2
ls -la .whl
du -sh .whl
