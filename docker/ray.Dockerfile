# Ray GPU worker/head image with riskcast installed (the training entrypoint of Ray Jobs).
# Build from the repository root:
#   docker build -f docker/ray.Dockerfile -t riskcast-ray .
FROM rayproject/ray:2.60.0-py311-gpu

WORKDIR /opt/riskcast
COPY --chown=ray:users pyproject.toml constraints.txt README.md ./
COPY --chown=ray:users forecasting ./forecasting
COPY --chown=ray:users plugins ./plugins
COPY --chown=ray:users expectations ./expectations
COPY --chown=ray:users docker/requirements ./requirements
# Every dependency from docker/requirements/ray.txt: riskcast WITHOUT the airflow extra (the
# training nodes need the library only; CUDA torch of the same version as the CPU pin), the
# versions of constraints.txt with the sha256 of their wheels, checked by pip (--require-hashes),
# wheels only (docker/lock.sh writes it). Then riskcast itself, from this source, nothing more.
RUN test -s requirements/ray.txt || { echo "docker/requirements/ray.txt is missing: run docker/lock.sh"; exit 1; } \
 && pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements/ray.txt \
 && pip install --no-cache-dir --no-deps --no-build-isolation .

ENV RISKCAST_EXPECTATIONS_DIR=/opt/riskcast/expectations \
    RAY_USAGE_STATS_ENABLED=0
