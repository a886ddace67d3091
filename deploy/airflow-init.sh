#!/usr/bin/env bash
# One-shot initialisation of the production stack, run by the `airflow-init` service of
# docker-compose.yml before any other Airflow service starts (they wait for it to exit 0).
# Idempotent: running it again on an initialised stack changes nothing but the admin password,
# which is re-read from the environment (that is how the password is rotated).
set -euo pipefail

say() { printf '[airflow-init] %s\n' "$*"; }

# Where the Dockerfile puts the project (overridable to run the script on a checkout, as the tests do).
TERRITOIRE_HOME="${TERRITOIRE_HOME:-/opt/territoire}"

# Compose already refuses to start without these (${VAR:?} in docker-compose.yml); this guard is for
# anyone running the script by hand.
for var in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET \
           AIRFLOW_ADMIN_USERNAME AIRFLOW_ADMIN_PASSWORD WAREHOUSE_URL; do
    if [[ -z "${!var:-}" ]]; then
        say "ERROR: $var is not set. Copy .env.example to .env, fill it in, and run 'docker compose up' again." >&2
        exit 1
    fi
done

say "1/4 migrating Airflow's metadata database (airflow db migrate)"
airflow db migrate

say "2/4 writing the password of admin user '${AIRFLOW_ADMIN_USERNAME}' for the simple auth manager"
# The simple auth manager reads passwords from a JSON file; without one it would generate a
# password and print it in the api-server log. We write it from the environment instead, into a
# volume only airflow-init and the api-server mount, readable by the service user only.
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
tmp = path.with_suffix(".tmp")
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, f)
os.replace(tmp, path)
PY

say "3/4 creating the warehouse schemas, the ingest tables and the shared folders (territoire db init)"
territoire db init
# The open API's read-only role `territoire_api` (password TERRITOIRE_API_DB_PASSWORD; docs/api.md).
territoire api-role
mkdir -p "${TERRITOIRE_LANDING_DIR:?}" "${TERRITOIRE_PUBLICATION_DIR:?}"

say "4/4 dbt parse (writes dbt_project/target/manifest.json, which Cosmos renders into tasks)"
if [[ -f "$TERRITOIRE_HOME/dbt_project/dbt_project.yml" ]]; then
    dbt parse --project-dir "$TERRITOIRE_HOME/dbt_project" --profiles-dir "${DBT_PROFILES_DIR:-$TERRITOIRE_HOME/dbt_project}"
else
    say "ERROR: $TERRITOIRE_HOME/dbt_project/dbt_project.yml is missing: is ./dbt_project mounted?" >&2
    exit 1
fi

say "done: open ${AIRFLOW__API__BASE_URL:-http://localhost:8080} and log in as '${AIRFLOW_ADMIN_USERNAME}'"
