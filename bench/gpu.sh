#!/usr/bin/env bash
# The GPU path in one call, for the device machine (one H100/H200, 16 cores, a copy of the working
# tree, no internet; its python3 has torch, timm, grpcio, numpy, scikit-learn but not all of ours):
#
#   bench/gpu_wheels.sh                  # here, once: the wheels it lacks, into .whl/ (ignored)
#   device run, carry [".whl"], timeout_s 600:  bash bench/gpu.sh
#   bash bench/gpu.sh --cpu-smoke        # the same script on a CPU machine, tiny counts
#
# Prints forward-only img/s (ViT-B/16, ViT-L/14-336, bf16, batch 64/128/256) beside gRPC end-to-end
# img/s (encoded bytes in, vectors out, batch caps 64/256) and GPU utilisation, then every study
# model's tower shape; writes gpu-device.json (--cpu-smoke: gpu-cpu.json) to $OUT on the device, else
# to results/bench/, where bench/study_cost.py reads it (copy the device's file there).
# Extra arguments go to bench/gpu_bench.py (e.g. --e2e-batch-sizes 64,128,256).
# PROBE_ARGS="--scale 0.2 --dims 1024" also runs bench/probe_scale.py with them afterwards on the
# machine's cores (serial vs parallel), writing probe_scale-device.json beside gpu-device.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

PYTHON=${PYTHON:-python3}
if [[ -x .venv/bin/python && -z "${OUT:-}" ]]; then PYTHON=.venv/bin/python; fi
# .whl/ holds cp312 wheels for the device machine (where $OUT is set), not for this machine's Python
if [[ -n "${OUT:-}" || -n "${MEDEMBED_WHEELS:-}" ]] && compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/medembed-site .whl/*.whl
  export PYTHONPATH=/tmp/medembed-site
fi
PYTHONPATH="clients/python:services/encoder:services/evaluator${PYTHONPATH:+:$PYTHONPATH}"
for lib in libs/*/; do PYTHONPATH="${lib%/}:$PYTHONPATH"; done
export PYTHONPATH

echo "== machine"
nproc
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
"$PYTHON" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
missing = []
for name in ("torch", "timm", "grpc", "grpc_health", "grpc_reflection", "google.protobuf", "redis", "pydicom",
             "prometheus_client", "yaml", "PIL", "sklearn", "joblib", "medembed_proto.v1.encoder_pb2",
             "medembed_encoder.server", "medembed_decode"):
    try:
        module = importlib.import_module(name)
        print(f"  {name:<32} {getattr(module, '__version__', '')}")
    except Exception as exc:  # report every missing piece at once, then stop
        missing.append(f"{name}: {exc}")
if missing:
    print("missing (run bench/gpu_wheels.sh here and carry .whl):", *missing, sep="\n  ")
    sys.exit(3)
EOF

echo "== gpu_bench"
if [[ " $* " == *" --cpu-smoke "* ]]; then
  "$PYTHON" bench/gpu_bench.py ${OUT:+--out "$OUT/gpu-cpu.json"} "$@"
else
  "$PYTHON" bench/gpu_bench.py --study-stand-ins ${OUT:+--out "$OUT/gpu-device.json"} "$@"
fi

if [[ -n "${PROBE_ARGS:-}" ]]; then
  echo "== probe_scale $PROBE_ARGS"
  # shellcheck disable=SC2086  # PROBE_ARGS is a list of flags
  MEDEMBED_BENCH_RESULTS=${OUT:-results/bench} "$PYTHON" bench/probe_scale.py $PROBE_ARGS --out-name probe_scale-device
fi
