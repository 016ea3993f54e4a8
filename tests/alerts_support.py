"""Shared helpers for the alerts tests: articles written straight into the articles alias,
and rules files written to a temporary folder."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import Elasticsearch

from ingest.indexer import bulk_write
from ingest.settings import Settings
from ingest.store import alias_name

NOW = datetime(2024, 5, 1, 10, 17, tzinfo=UTC)


def article(doc_id: str, title: str, body: str, *, source: str = "outlet-a", story_id: str | None = None,
            country: str = "AE", lang: str = "ar") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": doc_id, "title": title, "body": body, "url": f"https://{source}.example/{doc_id}",
        "canonical_url": f"https://{source}.example/{doc_id}", "lang": lang,
        "source": {"id": source, "name": f"صحيفة {source}", "domain": f"{source}.example",
                   "country": country},
        "published_at": "2024-05-01T09:00:00+00:00", "indexed_at": "2024-05-01T10:00:00+00:00"}
    if story_id:
        doc["story_id"] = story_id
    return doc


def index_articles(es: Elasticsearch, settings: Settings, docs: Iterable[dict[str, Any]]) -> list[str]:
    report = bulk_write(es, alias_name(settings.es.index_prefix, "articles"), list(docs), refresh=True)
    assert not report.failed, report.failed
    return report.ok


def write_rules(path: Path, rules: list[dict[str, Any]], channels: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"channels": channels, "rules": rules}, allow_unicode=True),
                    encoding="utf-8")
    return path


def deliveries(es: Elasticsearch, settings: Settings) -> list[dict[str, Any]]:
    index = alias_name(settings.es.index_prefix, "alert_deliveries")
    es.indices.refresh(index=index)
    resp = es.search(index=index, size=100, sort=[{"created_at": "asc"}])
    return [h["_source"] for h in resp["hits"]["hits"]]


def alerts(es: Elasticsearch, settings: Settings) -> list[dict[str, Any]]:
    index = alias_name(settings.es.index_prefix, "alerts")
    es.indices.refresh(index=index)
    return [h["_source"] for h in es.search(index=index, size=100)["hits"]["hits"]]
