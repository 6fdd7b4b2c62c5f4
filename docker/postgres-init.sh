#!/bin/sh
# Databases and LOGIN roles of the compose stack (run once by the postgres image). The groups
# the logins belong to (NOLOGIN riskcast_publisher / riskcast_finance) and their grants come
# from riskcast's own roles.sql, applied by the reserves-init service after the schema
# migration (docker/stack/databases.py, the same step `make stack` runs).
set -eu
psql -v ON_ERROR_STOP=1 -U postgres \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
  -v publisher_pw="$RISKCAST_PUBLISHER_PASSWORD" \
  -v finance_pw="$RISKCAST_FINANCE_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE DATABASE riskcast;
CREATE ROLE riskcast_publisher_svc LOGIN PASSWORD :'publisher_pw';
CREATE ROLE riskcast_finance_svc LOGIN PASSWORD :'finance_pw';
SQL
