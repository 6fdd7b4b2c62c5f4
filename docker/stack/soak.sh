#!/usr/bin/env bash
# The soak's Airflow (tests/stack/test_soak.py runs it; `make soak`, `make stack-test`): on a
# stack that is up (up.sh), stop the Airflow parts, start from empty metadata and reserves
# databases and empty S3 buckets, and start Airflow again with the settings the caller
# exported: the timetables' window (RISKCAST_SCHEDULE_START/END), catchup
# (AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT=True), the weekly forecast schedule, retention and
# per-site drops (docs/operations.md, "The soak"). Ray, S3, SMTP keep running.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/lib.sh"
export PATH="$STACK_VENV/bin:$PATH"
bash "$(dirname "$0")/down.sh" airflow-scheduler airflow-triggerer airflow-dag-processor airflow-apiserver

step "databases: riskcast_airflow, riskcast_reserves (fresh)"
(cd "$STACK/run" && python "$STACK_REPO/docker/stack/databases.py" --fresh)
step "S3: buckets $STACK_LANDING_BUCKET, $STACK_BUCKET emptied"
(cd "$STACK/run" && python -c "
import fsspec, sys
fs = fsspec.filesystem('s3', key=sys.argv[1], secret=sys.argv[2], client_kwargs={'endpoint_url': sys.argv[3]})
for bucket in sys.argv[4:]:
    keys = fs.find(bucket)
    if keys:
        fs.rm(keys)
" "$STACK_AWS_KEY" "$STACK_AWS_SECRET" "$STACK_S3" "$STACK_LANDING_BUCKET" "$STACK_BUCKET")
rm -f "$STACK"/mail/new/* "$STACK"/mail/cur/*   # the stack scenario's alerts were read
bash "$(dirname "$0")/airflow_up.sh"
