#!/usr/bin/env bash
# Creates Airflow's metadata database and the warehouse database, each owned by its own role.
# The official postgres image runs this once, when its data volume is empty
# (mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml). Passwords come from the
# environment (.env); psql binds them as variables, so no quoting can break the SQL.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}"
: "${WAREHOUSE_DB_PASSWORD:?set WAREHOUSE_DB_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set airflow_db="${AIRFLOW_DB_NAME:-airflow}" \
    --set airflow_user="${AIRFLOW_DB_USER:-airflow}" \
    --set airflow_password="$AIRFLOW_DB_PASSWORD" \
    --set warehouse_db="${WAREHOUSE_DB_NAME:-territoire}" \
    --set warehouse_user="${WAREHOUSE_DB_USER:-territoire}" \
    --set warehouse_password="$WAREHOUSE_DB_PASSWORD" <<'SQL'
create role :"airflow_user" login password :'airflow_password';
create database :"airflow_db" owner :"airflow_user";
revoke all on database :"airflow_db" from public;
-- CREATEROLE: the platform creates and repairs the analysts' read-only roles itself
-- (territoire.publication.roles); CREATEDB: `territoire validate` checks a file in a scratch database
-- of its own, dropped after. It needs no superuser.
create role :"warehouse_user" login createrole createdb password :'warehouse_password';
-- The analysts' watchdog (the platform_maintenance DAG) cancels their queries past the limits and
-- ends their idle transactions: it must see other roles' queries and signal their backends.
grant pg_signal_backend, pg_read_all_stats to :"warehouse_user";
create database :"warehouse_db" owner :"warehouse_user";
revoke all on database :"warehouse_db" from public;
SQL
