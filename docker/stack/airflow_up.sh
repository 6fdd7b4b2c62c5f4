#!/usr/bin/env bash
# The Airflow part of the stack (up.sh's last step; soak.sh starts it again with the soak's
# settings): the metadata database migrated, then api-server, scheduler (LocalExecutor),
# dag-processor and triggerer, each its own process group with a pid file under $STACK/pids.
# Settings come from env.sh and whatever the caller exported (env.sh keeps a caller's values
# where it says `${VAR:-default}`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/lib.sh"
export PATH="$STACK_VENV/bin:$PATH"
step "Airflow 3 (metadata in PostgreSQL, LocalExecutor, parallelism $AIRFLOW__CORE__PARALLELISM)"
[ -s "$STACK/pii.key" ] || openssl rand -hex 32 > "$STACK/pii.key" 2>/dev/null || python -c "import secrets; print(secrets.token_hex(32))" > "$STACK/pii.key"
chmod 600 "$STACK/pii.key"
LAST=; python -m airflow db migrate > "$STACK/logs/airflow-migrate.log" 2>&1 || { tail -n 30 "$STACK/logs/airflow-migrate.log"; exit 1; }
# the PII key reaches Airflow only (ingest tasks), as the connection riskcast_pii; Ray never sees it
export AIRFLOW_CONN_RISKCAST_PII="{\"conn_type\": \"generic\", \"password\": \"$(cat "$STACK/pii.key")\"}"
# the API server reads reports with the api role; the DAG processor and the triggerer need no S3
start airflow-apiserver env AIRFLOW_CONN_AWS_DEFAULT="$(stack_s3_conn "$STACK_S3_API_KEY" "$STACK_S3_API_SECRET")" \
  python -m airflow api-server --port "$STACK_API_PORT"
wait_for "the Airflow API server" 180 http_ok "http://127.0.0.1:$STACK_API_PORT/api/v2/version"
start airflow-scheduler python -m airflow scheduler
start airflow-dag-processor env -u AIRFLOW_CONN_AWS_DEFAULT python -m airflow dag-processor
start airflow-triggerer env -u AIRFLOW_CONN_AWS_DEFAULT python -m airflow triggerer
echo "stack up: Airflow UI http://127.0.0.1:$STACK_API_PORT, Ray dashboard $RISKCAST_RAY__JOBS_ADDRESS,"
echo "          S3 $STACK_S3 (keys per role: $STACK/s3-keys.sh), Ray token $RAY_AUTH_TOKEN_PATH,"
echo "          SMTP maildir $STACK/mail; logs in $STACK/logs; stop with make stack-down"
