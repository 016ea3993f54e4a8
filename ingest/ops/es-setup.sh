#!/usr/bin/env bash
# One-shot Elasticsearch setup for docker-compose (runs in the Elasticsearch image, which has curl):
# kibana_system's password, the pipeline's least-privilege role and user, the analysts' role, a
# snapshot repository and a nightly snapshot policy. Every call is a PUT/POST of the full state, so
# running it again is harmless. Secrets come from the environment and go only into request bodies.
set -euo pipefail

ES=http://elasticsearch:9200
PREFIX="${INGEST_INDEX_PREFIX:-news}"

check_secret() {  # passwords go into JSON bodies: keep them to JSON-safe characters
  local name=$1 value=$2
  if [[ ! "$value" =~ ^[A-Za-z0-9._~-]{12,}$ ]]; then
    echo "es-setup: $name must be 12+ characters of A-Z a-z 0-9 . _ ~ -" >&2
    exit 2
  fi
}

es() {  # es METHOD PATH [curl args...]: fail loudly with Elasticsearch's answer
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body -u "elastic:${ELASTIC_PASSWORD}" -H 'Content-Type: application/json' \
    -X "$method" "$ES$path" "$@"
  echo
}

check_secret ELASTIC_PASSWORD "$ELASTIC_PASSWORD"
check_secret KIBANA_SYSTEM_PASSWORD "$KIBANA_SYSTEM_PASSWORD"
check_secret PIPELINE_ES_PASSWORD "$PIPELINE_ES_PASSWORD"

echo "es-setup: kibana_system password"
es POST /_security/user/kibana_system/_password -d "{\"password\":\"${KIBANA_SYSTEM_PASSWORD}\"}"

echo "es-setup: roles ingest_pipeline and news_analyst on ${PREFIX}-*"
for role in ingest_pipeline news_analyst; do
  sed "s/\"news-\*\"/\"${PREFIX}-*\"/" "/setup/roles/${role}.json" | es PUT "/_security/role/${role}" --data-binary @-
done

echo "es-setup: user ${PIPELINE_ES_USER}"
es PUT "/_security/user/${PIPELINE_ES_USER}" \
  -d "{\"password\":\"${PIPELINE_ES_PASSWORD}\",\"roles\":[\"ingest_pipeline\"],\"full_name\":\"news ingestion pipeline\"}"

echo "es-setup: snapshot repository news_backups and policy nightly-news"
es PUT /_snapshot/news_backups -d '{"type":"fs","settings":{"location":"/usr/share/elasticsearch/snapshots","compress":true}}'
es PUT /_slm/policy/nightly-news -d "{
  \"schedule\": \"${SNAPSHOT_SCHEDULE}\",
  \"name\": \"<${PREFIX}-{now/d}>\",
  \"repository\": \"news_backups\",
  \"config\": {\"indices\": [\"${PREFIX}-*\"], \"include_global_state\": false},
  \"retention\": {\"expire_after\": \"${SNAPSHOT_RETENTION}\", \"min_count\": 5, \"max_count\": 60}
}"
echo "es-setup: done"
