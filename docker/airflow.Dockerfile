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
# CPU torch first (the CUDA build is for the Ray GPU workers only), then riskcast with its
# airflow extra, every version pinned by constraints.txt (the image's Airflow included).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c constraints.txt ".[airflow]"

COPY --chown=airflow:root dags /opt/airflow/dags
ENV RISKCAST_EXPECTATIONS_DIR=/opt/riskcast/expectations \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
