#!/usr/bin/env bash
# `make stack-down`: stop every process `up.sh` started, by its pid file's process group
# (each part runs in its own session), Airflow first, then Ray, SMTP, S3. PostgreSQL, which
# was on the machine before, keeps running; its two stack databases stay until the next up.
set -uo pipefail
source "$(dirname "$0")/env.sh"
for name in airflow-scheduler airflow-triggerer airflow-dag-processor airflow-apiserver ray-worker ray-head smtp s3; do
  f="$STACK/pids/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null
    echo "stopped $name (process group $pid)"
  fi
  rm -f "$f"
done
