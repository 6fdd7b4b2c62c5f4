#!/usr/bin/env bash
# `make stack`: the production-shaped stack on this machine, without Docker, each part its own
# process (own session: `down.sh` stops the whole process group) with a log in
# $STACK/logs/<name>.log and a pid file in $STACK/pids/<name>.pid:
#   PostgreSQL (the machine's; started if down): Airflow metadata DB + reserves DB, roles applied
#   moto (S3 endpoint, one IAM user per role, enforced) . aiosmtpd (SMTP) . Ray head + 1 worker
#   (`ray start`, Jobs API, token authentication)
#   Airflow 3 api-server, scheduler (LocalExecutor), dag-processor, triggerer
# Airflow and Ray run riskcast INSTALLED FROM ITS WHEEL into $STACK/venv (its dependencies are
# this project's venv, as a plain path entry: nothing is downloaded), never the checkout.
# The commands are the ones docker/compose.yaml runs in its containers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
PY_BUILD="${PY_BUILD:-$STACK_REPO/.venv/bin/python}"

if compgen -G "$STACK/pids/*.pid" > /dev/null; then
  for f in "$STACK"/pids/*.pid; do
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "the stack is up already ($f): make stack-down first"; exit 1; fi
  done
fi
rm -rf "$STACK"
mkdir -p "$STACK"/{logs,pids,run,plugins,wheel,airflow} "$STACK"/mail/{cur,new,tmp}

source "$(dirname "$0")/lib.sh"
ray_ok() {  # the Jobs API answers a caller with the token
  "$STACK_VENV/bin/python" -c "
import pathlib, sys, urllib.request
token = pathlib.Path(sys.argv[2]).read_text().strip()
urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + token}), timeout=3)" \
    "$1" "$RAY_AUTH_TOKEN_PATH"
}

step "PostgreSQL on 127.0.0.1:5432"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_for PostgreSQL 30 pg_isready -h 127.0.0.1 -p 5432 -q
fi

step "riskcast wheel -> $STACK_VENV (dependencies from the project venv)"
"$PY_BUILD" -m pip wheel --no-deps --no-build-isolation -q -w "$STACK/wheel" "$STACK_REPO"
"$PY_BUILD" -m venv "$STACK_VENV"
"$STACK_VENV/bin/python" -m pip install -q --no-deps --no-index "$STACK"/wheel/riskcast-*.whl
"$STACK_VENV/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))" > /dev/null
"$PY_BUILD" -c "import sysconfig; print(sysconfig.get_path('purelib'))" \
  > "$("$STACK_VENV/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")/deps.pth"
export PATH="$STACK_VENV/bin:$PATH"
(cd "$STACK/run" && python -c "import forecasting, sys; assert forecasting.__file__.startswith(sys.prefix), forecasting.__file__")

step "databases: riskcast_airflow (metadata), riskcast_reserves (schema, roles, login roles)"
(cd "$STACK/run" && python "$STACK_REPO/docker/stack/databases.py" --fresh)

step "S3 endpoint (moto server) on $STACK_S3: buckets $STACK_LANDING_BUCKET, $STACK_BUCKET; a user per role"
start s3 python -m moto.server -H 127.0.0.1 -p "$STACK_S3_PORT"
wait_for "moto" 60 http_ok "$STACK_S3/moto-api/"
python "$STACK_REPO/docker/stack/s3_users.py" "$STACK_S3" "$STACK_LANDING_BUCKET,$STACK_BUCKET"
source "$(dirname "$0")/env.sh"  # again: the roles' keys (s3-keys.sh) and the connections made of them

step "SMTP (aiosmtpd) on 127.0.0.1:$STACK_SMTP_PORT -> $STACK/mail (Maildir)"
start smtp python -m aiosmtpd -n -l "127.0.0.1:$STACK_SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$STACK/mail"
wait_for "aiosmtpd" 30 python -c "import smtplib; smtplib.SMTP('127.0.0.1', $STACK_SMTP_PORT, timeout=2).quit()"

step "Ray head (Jobs API on $RISKCAST_RAY__JOBS_ADDRESS, token auth) + 1 worker node"
# the cluster's token: a secret file only Ray and Airflow's scheduler/triggerer read
openssl rand -hex 32 > "$RAY_AUTH_TOKEN_PATH" 2>/dev/null || python -c "import secrets; print(secrets.token_hex(32))" > "$RAY_AUTH_TOKEN_PATH"
chmod 600 "$RAY_AUTH_TOKEN_PATH"
free_ports() { python -c "
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(('127.0.0.1', 0))
print(' '.join(f'--{n}={s.getsockname()[1]}' for n, s in zip(('dashboard-agent-listen-port', 'dashboard-agent-grpc-port', 'metrics-export-port', 'runtime-env-agent-port', 'node-manager-port', 'object-manager-port', 'ray-client-server-port'), socks)))"; }
# the training job reads the panel and writes models in S3 with the node's credentials: the
# train role, which cannot read landing (no PII key, no reserves database either)
# (a busy 2-core machine starts a node's dashboard agent slowly: wait for it longer)
ray_env=(env -u AIRFLOW_CONN_AWS_DEFAULT AWS_ACCESS_KEY_ID="$STACK_S3_TRAIN_KEY"
         AWS_SECRET_ACCESS_KEY="$STACK_S3_TRAIN_SECRET" AWS_ENDPOINT_URL="$STACK_S3" AWS_DEFAULT_REGION=us-east-1
         RAY_agent_register_timeout_ms=300000 RAY_raylet_start_wait_time_s=300)
# shellcheck disable=SC2046
start ray-head "${ray_env[@]}" python -m ray.scripts.scripts start --head --block \
  --node-ip-address=127.0.0.1 --port="$STACK_RAY_PORT" --dashboard-host=127.0.0.1 \
  --dashboard-port="$STACK_RAY_DASHBOARD" --include-dashboard=true --num-cpus=2 --num-gpus=0 \
  --temp-dir="$STACK/ray" --object-store-memory=$((300 * 1024 * 1024)) --disable-usage-stats $(free_ports)
wait_for "the Ray Jobs API" 180 ray_ok "$RISKCAST_RAY__JOBS_ADDRESS/api/version"
# A node's raylet gives its dashboard agent ~16 s to start; on a busy 2-core machine that can
# be too short, so the worker node gets three tries.
for try in 1 2 3; do
  # shellcheck disable=SC2046
  start ray-worker "${ray_env[@]}" python -m ray.scripts.scripts start --block \
    --address="127.0.0.1:$STACK_RAY_PORT" --node-ip-address=127.0.0.1 --num-cpus=1 --num-gpus=0 \
    --object-store-memory=$((300 * 1024 * 1024)) --disable-usage-stats $(free_ports)
  for _ in $(seq 1 90); do
    python -c "
from ray.util.state import list_nodes
import sys; sys.exit(0 if sum(n.state == 'ALIVE' for n in list_nodes(address='$RISKCAST_RAY__JOBS_ADDRESS')) >= 2 else 1)" \
      > /dev/null 2>&1 && break 2
    kill -0 "$(cat "$STACK/pids/ray-worker.pid")" 2>/dev/null || break
    sleep 1
  done
  echo "   the Ray worker node did not join (try $try): $(grep -o 'Timed out waiting for file' "$STACK"/ray/session_latest/logs/raylet*.out | head -n1)"
  kill -TERM -- "-$(cat "$STACK/pids/ray-worker.pid")" 2>/dev/null || true
  sleep 2
  if [ "$try" = 3 ]; then  # go on with the head alone: training still runs as a Ray Job
    echo "   WARNING: no Ray worker node (machine too busy); the head alone runs the jobs" | tee "$STACK/logs/WARNING"
    rm -f "$STACK/pids/ray-worker.pid"
  fi
done

bash "$(dirname "$0")/airflow_up.sh"
