# Ray GPU worker/head image with riskcast installed (the training entrypoint of Ray Jobs).
# Build from the repository root:
#   docker build -f docker/ray.Dockerfile -t riskcast-ray .
FROM rayproject/ray:2.60.0-py311-gpu

WORKDIR /opt/riskcast
COPY --chown=ray:users pyproject.toml constraints.txt README.md ./
COPY --chown=ray:users forecasting ./forecasting
COPY --chown=ray:users plugins ./plugins
COPY --chown=ray:users expectations ./expectations
# CUDA torch of the same version as the CPU pin; then riskcast WITHOUT the airflow extra:
# the training nodes need the library only, every version pinned by constraints.txt.
RUN pip install --no-cache-dir torch==2.13.0 \
 && pip install --no-cache-dir -c constraints.txt .

ENV RISKCAST_EXPECTATIONS_DIR=/opt/riskcast/expectations \
    RAY_USAGE_STATS_ENABLED=0
