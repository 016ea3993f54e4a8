#!/usr/bin/env bash
# One-shot init for docker-compose (runs in the project's Airflow image, after the image entrypoint
# has migrated the metadata database because _AIRFLOW_DB_MIGRATE=true). Idempotent:
#   1. index templates + versioned indices behind their aliases  (ingest es init, as elastic)
#   2. the Kibana data views, searches and dashboard               (ingest kibana import, overwrite)
#   3. the Airflow connection news_es (as the least-privilege pipeline user) and the pool news_fetch
#   4. the Airflow admin's password for the simple auth manager
# Secrets come from the environment; none is printed, none is put on a command line.
set -euo pipefail
umask 077

echo "init: index templates"
INGEST_ES_URL=http://elasticsearch:9200 INGEST_ES_USERNAME=elastic INGEST_ES_PASSWORD="$ELASTIC_PASSWORD" \
  ingest es init

echo "init: Kibana saved objects"
INGEST_KIBANA_USER=elastic INGEST_KIBANA_PASSWORD="$ELASTIC_PASSWORD" ingest kibana import --url "$KIBANA_URL"

echo "init: Airflow connection news_es and pool news_fetch"
conn_file=$(mktemp)
trap 'rm -f "$conn_file"' EXIT
python - "$conn_file" <<'PY'
import json, os, sys
conn = {"conn_type": "generic", "host": "elasticsearch", "port": 9200, "schema": "http",
        "login": os.environ["PIPELINE_ES_USER"], "password": os.environ["PIPELINE_ES_PASSWORD"]}
with open(sys.argv[1], "w") as f:
    json.dump({"news_es": conn}, f)
PY
airflow connections import --overwrite "$conn_file"
airflow pools set news_fetch "${INGEST_DAG_FETCH_POOL_SLOTS:-4}" "Bounds concurrent article fetching"

echo "init: Airflow admin password"
python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as f:
    json.dump({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, f)
PY
echo "init: done"
