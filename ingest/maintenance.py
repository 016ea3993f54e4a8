"""Daily maintenance: source-health report, cleanup of expired source state, index housekeeping.

Why a stage module of its own: the maintenance DAG and the CLI call the same functions, and the
report is plain data (JSON for XCom, lines for a log) built from what the pipeline already keeps
in Elasticsearch: the ``sources`` state index (ingest.sourcestate) and the articles' fetch dates.
Nothing here deletes articles or dedup records; only state of sources that left the list expires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from ingest import store
from ingest.config import load_sources
from ingest.models import to_json_dict
from ingest.settings import Settings
from ingest.sourcestate import SourceState, state_from_dict

log = logging.getLogger(__name__)

REPORT_DAYS = 7
STATE_RETENTION_DAYS = 30
MAX_SOURCES = 10_000


@dataclass(frozen=True)
class SourceHealth:
    """One source's line in the report; ``items_per_day`` maps ``YYYY-MM-DD`` to articles fetched."""

    source_id: str
    health: str
    failures: int
    disabled: bool
    disabled_reason: str
    last_status: str
    last_success_at: datetime | None
    last_polled_at: datetime | None
    items_per_day: dict[str, int]


@dataclass(frozen=True)
class HealthReport:
    generated_at: datetime
    days: int
    sources: tuple[SourceHealth, ...]

    @property
    def failing(self) -> list[str]:
        return [s.source_id for s in self.sources if s.failures and not s.disabled]

    @property
    def disabled(self) -> list[str]:
        return [s.source_id for s in self.sources if s.disabled]

    def to_json_dict(self) -> dict[str, Any]:
        return {**to_json_dict(self), "failing": self.failing, "disabled": self.disabled}

    def lines(self) -> list[str]:
        """One line per source, problems first: health, last success, items per day."""
        ordered = sorted(self.sources, key=lambda s: (not s.disabled, not s.failures, s.source_id))
        return [f"{s.source_id:<28}{s.health:<45}last success "
                f"{s.last_success_at.isoformat(timespec='minutes') if s.last_success_at else 'never':<26}"
                f"{sum(s.items_per_day.values())} items in {self.days} days" for s in ordered]


def source_health(settings: Settings, *, now: datetime | None = None,
                  days: int = REPORT_DAYS) -> HealthReport:
    """Every known source's health from its stored state, with its articles fetched per day."""
    now = now or datetime.now(UTC)
    es = store.connect(settings)
    per_day = items_per_day(es, settings, since=now - timedelta(days=days))
    states = {s.source_id: s for s in all_states(es, settings)}
    ids = sorted(set(states) | set(per_day))
    rows = (_health(states.get(i, SourceState(source_id=i)), per_day.get(i, {})) for i in ids)
    return HealthReport(now, days, tuple(rows))


def _health(state: SourceState, per_day: dict[str, int]) -> SourceHealth:
    return SourceHealth(state.source_id, state.health, state.failures, state.disabled, state.disabled_reason,
                        state.last_status, state.last_success_at, state.last_polled_at, per_day)


def all_states(es: Elasticsearch, settings: Settings) -> list[SourceState]:
    """Every stored source state (a sources list is small: one search)."""
    with store.translated("reading source states"):
        hits = es.search(index=store.alias_name(settings.es.index_prefix, "sources"), size=MAX_SOURCES,
                         query={"match_all": {}})["hits"]["hits"]
    return [state_from_dict(h["_source"]) for h in hits]


def items_per_day(es: Elasticsearch, settings: Settings, *, since: datetime) -> dict[str, dict[str, int]]:
    """Articles fetched per source per UTC day since ``since`` (days without articles omitted)."""
    aggs = {"by_source": {"terms": {"field": "source.id", "size": MAX_SOURCES},
                          "aggs": {"per_day": {"date_histogram": {"field": "fetched_at",
                                                                  "calendar_interval": "day",
                                                                  "format": "yyyy-MM-dd",
                                                                  "min_doc_count": 1}}}}}
    with store.translated("counting articles per source and day"):
        body = es.search(index=store.alias_name(settings.es.index_prefix, "articles"), size=0, aggs=aggs,
                         query={"range": {"fetched_at": {"gte": since.isoformat()}}})
    return {b["key"]: {d["key_as_string"]: d["doc_count"] for d in b["per_day"]["buckets"]}
            for b in body["aggregations"]["by_source"]["buckets"]}


def cleanup_expired_state(settings: Settings, *, now: datetime | None = None,
                          retention_days: int = STATE_RETENTION_DAYS) -> dict[str, Any]:
    """Delete the poll state of sources no longer in the sources file and not polled for
    ``retention_days``: a source put back later simply starts fresh."""
    now = now or datetime.now(UTC)
    configured = {s.id for s in load_sources(settings.files.sources_file)}
    cutoff = now - timedelta(days=retention_days)
    es = store.connect(settings)
    expired = [s.source_id for s in all_states(es, settings)
               if s.source_id not in configured and (s.last_polled_at is None or s.last_polled_at < cutoff)]
    index = store.alias_name(settings.es.index_prefix, "sources")
    with store.translated("deleting expired source state"):
        for source_id in expired:
            es.options(ignore_status=404).delete(index=index, id=source_id, refresh=True)
    if expired:
        log.info("expired source state deleted: %s", ", ".join(expired))
    return {"deleted": expired, "retention_days": retention_days}


def housekeeping(settings: Settings) -> dict[str, Any]:
    """Re-apply templates, put back an alias lost from its current index, and report versioned
    indices that no alias points at (left by a migration; deleting them stays a human decision)."""
    es = store.connect(settings)
    restored = restore_aliases(es, settings)
    aliases = store.apply_templates(es, settings)
    with store.translated("listing indices and aliases"):
        indices = es.indices.get_alias(index=f"{settings.es.index_prefix}-*-v*", expand_wildcards="open")
    orphans = sorted(name for name, info in indices.items() if not info.get("aliases"))
    for name in orphans:
        log.warning("index %s is behind no alias (old version?); delete it once it is not needed", name)
    return {"aliases": aliases, "restored": restored, "indices": sorted(indices), "orphans": orphans}


def restore_aliases(es: Elasticsearch, settings: Settings) -> list[str]:
    """Aliases that were missing although their current versioned index exists, now put back."""
    restored = []
    with store.translated("restoring aliases"):
        for spec in store.load_specs(settings.files.mappings_dir):
            alias, index = spec.alias(settings.es.index_prefix), spec.index(settings.es.index_prefix)
            if not es.indices.exists_alias(name=alias) and es.indices.exists(index=index):
                es.indices.put_alias(index=index, name=alias, is_write_index=True)
                log.warning("alias %s was missing; pointed it at %s again", alias, index)
                restored.append(alias)
    return restored
