# Airflow 3 image with riskcast installed: scheduler, API server, DAG processor, triggerer
# and workers all run from it. Build from the repository root:
#   docker build -f docker/airflow.Dockerfile -t riskcast-airflow .
FROM apache/airflow:3.3.2-python3.11

# The base image runs as the unprivileged `airflow` user; every wheel we need is manylinux.
WORKDIR /opt/riskcast
COPY --chown=airflow:root pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:root forecasting ./forecasting
COPY --chown=airflow:root plugins ./plugins
COPY --chown=airflow:root expectations ./expectations
COPY --chown=airflow:root docker/stack/databases.py ./stack/databases.py
COPY --chown=airflow:root docker/requirements ./requirements
# Every dependency from docker/requirements/airflow.txt: the versions of constraints.txt (the
# image's Airflow included; CPU torch, the CUDA build is for the Ray GPU workers only) with
# the sha256 of their wheels, checked by pip (--require-hashes), wheels only. docker/lock.sh
# writes the file from constraints.txt. Then riskcast itself, from this source, nothing more.
RUN test -s requirements/airflow.txt || { echo "docker/requirements/airflow.txt is missing: run docker/lock.sh"; exit 1; } \
 && pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements/airflow.txt \
      --extra-index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir --no-deps --no-build-isolation .

COPY --chown=airflow:root dags /opt/airflow/dags
ENV RISKCAST_EXPECTATIONS_DIR=/opt/riskcast/expectations \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
