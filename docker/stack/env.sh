# The local stack's settings: sourced by up.sh, down.sh and tests/stack (via `env.sh` + env).
# Everything lives under $STACK (default data/stack): logs/, pids/, the wheel's venv, Airflow
# home, Ray's temp dir, the SMTP maildir. Ports are fixed defaults, overridable by env.
STACK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export STACK="${RISKCAST_STACK_DIR:-$STACK_REPO/data/stack}"
export STACK_VENV="$STACK/venv"                       # riskcast installed from its wheel
export STACK_PG="${STACK_PG:-postgresql+psycopg://postgres@127.0.0.1:5432}"
export STACK_API_PORT="${STACK_API_PORT:-28080}"      # Airflow API server (UI)
export STACK_S3_PORT="${STACK_S3_PORT:-25000}"        # moto server: the S3 endpoint
export STACK_SMTP_PORT="${STACK_SMTP_PORT:-28025}"    # aiosmtpd: the alert mailbox
export STACK_RAY_PORT="${STACK_RAY_PORT:-26379}"      # Ray GCS
export STACK_RAY_DASHBOARD="${STACK_RAY_DASHBOARD:-28265}"  # Ray dashboard + Jobs API
export STACK_BUCKET=riskcast                  # the lake
export STACK_LANDING_BUCKET=riskcast-landing  # landing drops: only the ingest role reads them
export STACK_S3="http://127.0.0.1:$STACK_S3_PORT"
# one object-store user per role (docker/stack/s3_users.py makes them and writes their keys at
# `make stack`; moto then enforces each user's policy, docker/s3-policies/<role>.json):
# STACK_S3_{INGEST,TRAIN,API,ADMIN}_{KEY,SECRET}; admin (all rights) is for setup and tests
if [ -f "$STACK/s3-keys.sh" ]; then source "$STACK/s3-keys.sh"; fi
export STACK_AWS_KEY="${STACK_S3_ADMIN_KEY:-bootstrap}" STACK_AWS_SECRET="${STACK_S3_ADMIN_SECRET:-bootstrap}"
stack_s3_conn() {  # stack_s3_conn KEY SECRET: an Airflow aws connection (JSON) to the stack's S3
  printf '{"conn_type": "aws", "login": "%s", "password": "%s", "extra": {"endpoint_url": "%s", "region_name": "us-east-1"}}' \
    "$1" "$2" "$STACK_S3"
}

# --- Airflow: the same variables docker/compose.yaml sets, pointed at local processes
export AIRFLOW_HOME="$STACK/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$STACK_REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$STACK/plugins"   # empty: the plugin comes from the wheel
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-2}"   # 2 cores, shared
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$STACK_API_PORT/execution/"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$STACK_PG/riskcast_airflow"
# psycopg 3 for the async engine too (Airflow would pick asyncpg, which is not installed)
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="${STACK_PG/+psycopg/+psycopg_async}/riskcast_airflow"
export AIRFLOW__API__PORT="$STACK_API_PORT"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API_AUTH__JWT_SECRET="${AIRFLOW__API_AUTH__JWT_SECRET:-riskcast-local-stack-only}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True   # local stack: no login
export AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR=True
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=20
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=5
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
# a busy 2-core machine answers the Execution API slowly: task processes wait longer (default 5 s)
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=60
export AIRFLOW__WORKERS__EXECUTION_API_RETRIES=10
# credentials through Airflow connections, not task env: S3 (moto) and the PII hashing key;
# Airflow's workers (the scheduler's LocalExecutor) hold the ingest role (up.sh gives the API
# server the api role and the other Airflow parts none)
export AIRFLOW_CONN_AWS_DEFAULT="$(stack_s3_conn "${STACK_S3_INGEST_KEY:-$STACK_AWS_KEY}" "${STACK_S3_INGEST_SECRET:-$STACK_AWS_SECRET}")"

# --- riskcast: S3 landing and lake, PostgreSQL reserves as the publisher, Ray Jobs, SMTP
export RISKCAST_LANDING_URI="s3://$STACK_LANDING_BUCKET/landing"
export RISKCAST_LAKE_URI="s3://$STACK_BUCKET/lake"
export RISKCAST_RESERVES_URL="$(echo "$STACK_PG" | sed 's#//postgres@#//riskcast_publisher_svc@#')/riskcast_reserves"
export RISKCAST_RAY__JOBS_ADDRESS="http://127.0.0.1:$STACK_RAY_DASHBOARD"
export RISKCAST_RAY__NUM_WORKERS=1
export RISKCAST_FORECAST_SCHEDULE="${RISKCAST_FORECAST_SCHEDULE:-assets}"
export RISKCAST_ALERTS__ROUTES='["file", "smtp"]'
export RISKCAST_ALERTS__SMTP_HOST=127.0.0.1
export RISKCAST_ALERTS__SMTP_PORT="$STACK_SMTP_PORT"
export RISKCAST_ALERTS__SMTP_TO='["security@riskcast.local"]'
# the local aiosmtpd speaks no TLS: a test server on loopback, so plaintext is allowed here
# (alerts.smtp_insecure); a real relay gets alerts.smtp_starttls or smtp_ssl, certificate verified
export RISKCAST_ALERTS__SMTP_INSECURE=true
# a small, fast model: the stack shows the deployment, not accuracy (bench/ does that)
export RISKCAST_HORIZON="${RISKCAST_HORIZON:-4}"
# a 5-warehouse network has ~6 reports a day: one bad row must quarantine, not reject the day
export RISKCAST_VALIDATION__MAX_BAD_ROW_SHARE="${RISKCAST_VALIDATION__MAX_BAD_ROW_SHARE:-0.5}"
export RISKCAST_BACKTEST_WINDOWS="${RISKCAST_BACKTEST_WINDOWS:-2}"
# the scenario lands yesterday's drop moments before the scheduled run: the drop sensors wait
# seconds for it to settle, not the production 10 minutes (docs/operations.md)
export RISKCAST_DROPS__SECURITY_REPORTS__SETTLE_MINUTES="${RISKCAST_DROPS__SECURITY_REPORTS__SETTLE_MINUTES:-0.25}"
export RISKCAST_DROPS__RECONCILIATION_LOGS__SETTLE_MINUTES="${RISKCAST_DROPS__RECONCILIATION_LOGS__SETTLE_MINUTES:-0.25}"
export RISKCAST_DROPS__SECURITY_REPORTS__POLL_SECONDS="${RISKCAST_DROPS__SECURITY_REPORTS__POLL_SECONDS:-5}"
export RISKCAST_DROPS__RECONCILIATION_LOGS__POLL_SECONDS="${RISKCAST_DROPS__RECONCILIATION_LOGS__POLL_SECONDS:-5}"
export RISKCAST_CALIBRATION_TOLERANCE="${RISKCAST_CALIBRATION_TOLERANCE:-0.45}"
export RISKCAST_MODEL__MAX_EPOCHS="${RISKCAST_MODEL__MAX_EPOCHS:-2}"
export RISKCAST_MODEL__BATCHES_PER_EPOCH="${RISKCAST_MODEL__BATCHES_PER_EPOCH:-3}"
export RISKCAST_MODEL__BATCH_SIZE="${RISKCAST_MODEL__BATCH_SIZE:-16}"
export RISKCAST_MODEL__NUM_SAMPLES="${RISKCAST_MODEL__NUM_SAMPLES:-50}"
export RISKCAST_MODEL__HIDDEN_SIZE="${RISKCAST_MODEL__HIDDEN_SIZE:-8}"
# Ray asks who is calling: token authentication on the cluster and in every client (Airflow's
# scheduler and triggerer submit and watch jobs); the token is a secret file up.sh makes
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$STACK/ray.token" RAY_USAGE_STATS_ENABLED=0
