# The evaluator: client + probes, no torch. Built from the repository root:
#   docker build -f deploy/docker/evaluator.Dockerfile -t medembed-evaluator .
# No `# syntax=` line: the engine's own frontend builds it, no frontend image pulled from a registry.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv \
 && pip install --upgrade pip
COPY libs/proto /src/libs/proto
COPY clients/python /src/clients/python
COPY libs/decode /src/libs/decode
COPY services/evaluator /src/services/evaluator
RUN pip install /src/libs/proto /src/clients/python /src/libs/decode /src/services/evaluator \
 && if python -c "import torch" 2>/dev/null; then echo "torch leaked into the evaluator image" >&2; exit 1; fi \
 && python -c "import medembed_evaluator.cli, medembed_evaluator.runner, sklearn, umap" \
 || { echo "the evaluator's libraries do not import (see above)" >&2; exit 1; }

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="medembed-evaluator" \
      org.opencontainers.image.description="medembed evaluator: linear probes, feature analysis, overlay bias test, benchmark tables and report"
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/medembed medembed \
 && mkdir -p /results /data \
 && chown medembed:medembed /results
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MEDEMBED_RESULTS_DIR=/results \
    MEDEMBED_DATA_ROOT=/data
WORKDIR /app
# Plan paths are the repository's own (deploy/plans/...), so a plan runs the same here and there.
COPY deploy/plans deploy/plans
USER 10001:10001
ENTRYPOINT ["medembed-evaluate"]
CMD ["run", "deploy/plans/study.yaml"]
