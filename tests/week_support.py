"""What the simulated-web tests share (test_week, test_week_faults, test_simweb): the crawler's
settings for the simulated web, the index as the world sees it, the worker subprocess's environment."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

from elasticsearch import Elasticsearch

from ingest import store
from ingest.dev.evaluation import simweb
from ingest.settings import Settings, load_settings

DELAY = 0.1
SLACK = 0.03                     # crawler-side start vs. the server's receive timestamp
PERMANENT_TTL = timedelta(days=7)
ROBOTS_TTL = timedelta(hours=6)
RUNNER = Path(__file__).with_name("week_runner.py")
T0 = simweb.day_start(days_back=2)


def sim_settings(es_url: str, **overrides: object) -> Settings:
    return load_settings(es={"url": es_url, "index_prefix": f"t{uuid.uuid4().hex[:10]}"},
                         fetch={"allowed_networks": ["127.0.0.0/8"],
                                "per_host_delay": DELAY,
                                "per_host_concurrency": 2,
                                "robots_cache_ttl": ROBOTS_TTL.total_seconds()},
                         poll={"min_interval": 3600.0},
                         **overrides)


def indexed(es: Elasticsearch, settings: Settings) -> list[dict]:
    alias = store.alias_name(settings.es.index_prefix, "articles")
    es.indices.refresh(index=alias)
    response = es.search(index=alias, size=10000, source=["url", "sources", "duplicate_of"],
                         query={"match_all": {}})
    return [h["_source"] | {"_id": h["_id"]} for h in response["hits"]["hits"]]


def runner_env(settings: Settings, es_url: str) -> dict[str, str]:
    return {**os.environ, "INGEST_ES_URL": es_url, "INGEST_INDEX_PREFIX": settings.es.index_prefix,
            "INGEST_ALLOWED_NETWORKS": '["127.0.0.0/8"]', "INGEST_PER_HOST_DELAY": str(DELAY),
            "INGEST_POLL_MIN_INTERVAL": str(settings.poll.min_interval), "INGEST_ES_MAX_RETRIES": "0"}
