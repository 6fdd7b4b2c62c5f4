#!/bin/sh
# Databases and login roles of the compose stack (run once by the postgres image).
# Grants on the reserves tables come from riskcast's own DDL (forecasting/reserves/sql/roles.sql).
set -eu
psql -v ON_ERROR_STOP=1 -U postgres \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
  -v publisher_pw="$RISKCAST_PUBLISHER_PASSWORD" \
  -v finance_pw="$RISKCAST_FINANCE_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE riskcast_publisher LOGIN PASSWORD :'publisher_pw';
CREATE ROLE riskcast_finance LOGIN PASSWORD :'finance_pw';
CREATE DATABASE riskcast OWNER riskcast_publisher;
SQL
