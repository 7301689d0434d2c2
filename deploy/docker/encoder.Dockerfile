# One encoder family per image, built from the repository root:
#   docker build -f deploy/docker/encoder.Dockerfile --build-arg FAMILY=timm -t medembed-encoder-timm .
# FAMILY: open_clip | timm | hf | torchvision (the rows of medembed_encoder/families/table.py, each an
# extra of services/encoder; only that one is installed).
# No `# syntax=` line: the engine's own Dockerfile frontend builds it, so no frontend image is pulled
# from a registry (air-gapped builds work).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG FAMILY=open_clip
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
# Empty = PyPI's torch wheels, which carry CUDA. The CPU-only variant passes the CPU wheel index
# and REQUIRE_CPU_TORCH=1: torch comes from that index alone, and the build fails with a message
# when the torch installed is a CUDA build anyway.
ARG TORCH_INDEX_URL=
ARG REQUIRE_CPU_TORCH=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
# pip upgraded first: a pip older than 23.3 (a base image's) silently drops the extra `open_clip`
# (a name with '_'), and the image would build without its family's library.
RUN case "$FAMILY" in open_clip|timm|hf|torchvision) ;; \
      *) echo "FAMILY must be open_clip, timm, hf or torchvision, not '$FAMILY'" >&2; exit 1 ;; esac \
 && python -m venv /opt/venv \
 && pip install --upgrade pip
# torch alone first: the largest layer, and the one that changes least.
RUN printf 'torch==%s\ntorchvision==%s\n' "$TORCH_VERSION" "$TORCHVISION_VERSION" > /opt/constraints.txt \
 && { pip install -c /opt/constraints.txt ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch \
      || { echo "torch $TORCH_VERSION could not be installed${TORCH_INDEX_URL:+ from $TORCH_INDEX_URL, torch's only index when set: is it reachable from the build?}" >&2; exit 1; }; }
# clients/python only for the HEALTHCHECK below (`python -m medembed_client.healthcheck`): the
# server itself does not import the client.
COPY libs/proto /src/libs/proto
COPY clients/python /src/clients/python
COPY libs/decode /src/libs/decode
COPY services/encoder /src/services/encoder
RUN pip install -c /opt/constraints.txt ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
      /src/libs/proto /src/clients/python /src/libs/decode "/src/services/encoder[$FAMILY]"
# The image must serve its family: its libraries installed and importing (and a CPU torch where asked).
RUN python -m medembed_encoder.buildcheck "$FAMILY" ${REQUIRE_CPU_TORCH:+--cpu}

FROM ${PYTHON_IMAGE}
ARG FAMILY=open_clip
LABEL org.opencontainers.image.title="medembed-encoder-${FAMILY}" \
      org.opencontainers.image.description="medembed gRPC image encoder, ${FAMILY} family"
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/medembed medembed \
 && mkdir -p /models /cache \
 && chown medembed:medembed /models /cache
COPY --from=build /opt/venv /opt/venv
# /models is the volume shared by every family's weights downloads; /cache the on-disk embedding
# cache used when no Redis is configured.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MEDEMBED_MODEL_CACHE=/models \
    HF_HOME=/models/huggingface \
    TORCH_HOME=/models/torch \
    MEDEMBED_CACHE_DIR=/cache
USER 10001:10001
WORKDIR /home/medembed
EXPOSE 50051 9464
# Weights download and warm-up can take long on a first start; start-interval polls fast meanwhile.
HEALTHCHECK --interval=30s --timeout=10s --retries=3 --start-period=30m --start-interval=5s \
    CMD ["python", "-m", "medembed_client.healthcheck"]
# Exec form: the server is PID 1 and gets SIGTERM itself, so `docker stop` drains in-flight RPCs.
ENTRYPOINT ["medembed-encoder", "serve"]
