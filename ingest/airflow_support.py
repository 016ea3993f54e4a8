"""The edge between Airflow and ``ingest``: settings from the ``news_es`` connection, DAG knobs.

Why here and not in the DAG files: DAG files stay wiring only, and stage modules never import
Airflow. This module is the one place that may, and it does so lazily (inside functions), so
importing it at DAG parse time costs nothing and touches no database, network or connection.
Credentials from the connection go straight into ``SecretStr`` fields and are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import TypeAdapter

from ingest.errors import ConfigError
from ingest.logs import quiet_clients
from ingest.settings import FLAT, Settings, load_settings, merged

log = logging.getLogger(__name__)

CONN_ID = "news_es"
# The Asset news_ingest publishes after indexing and news_alerts is scheduled on (by name).
NEW_ARTICLES_ASSET = "news_new_articles"
DEFAULT_PORT = 9200
# What a connection's extras may set, and nothing else: the Elasticsearch client's knobs (URL and
# credentials come from the connection's own fields). Key -> field of the ``es`` group; each field is
# also accepted under its environment name (``es_api_key``, ...).
EXTRAS = {"api_key": "api_key", "verify_certs": "verify_certs", "ca_certs": "ca_certs",
          "request_timeout": "request_timeout", "max_retries": "max_retries", "index_prefix": "index_prefix",
          "shards": "shards", "replicas": "replicas"}
EXTRA_KEYS = {**EXTRAS, **{env: field for env, (group, field) in FLAT.items()
                           if group == "es" and field in EXTRAS.values()}}
IGNORED_EXTRAS = {"scheme"}


class ConnectionLike(Protocol):
    """The attributes of ``airflow.sdk.Connection`` this module reads."""

    conn_type: str | None
    host: str | None
    port: int | None
    schema: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict: ...


def connection_overrides(conn: ConnectionLike) -> dict[str, Any]:
    """The ``es`` settings from a connection: URL from host/port/schema, auth, the allowed extras."""
    values: dict[str, Any] = {"url": connection_url(conn)}
    if conn.login:
        values["username"] = conn.login
    if conn.password:
        values["password"] = conn.password
    values.update(_extras(conn.extra_dejson))
    return {"es": values}


def connection_url(conn: ConnectionLike) -> str:
    """``http(s)://host:port``; an empty host means "the embedded node" (empty URL)."""
    host = (conn.host or "").strip()
    if not host:
        return ""
    if "://" in host:
        return host if conn.port is None or host.count(":") > 1 else f"{host}:{conn.port}"
    scheme = conn.extra_dejson.get("scheme") or (conn.schema if conn.schema in ("http", "https") else "http")
    return f"{scheme}://{host}:{conn.port or DEFAULT_PORT}"


def _extras(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Extra keys onto ``es`` fields; a key not in ``EXTRA_KEYS`` is a configuration error naming it."""
    values = {}
    for key, value in extra.items():
        if key in IGNORED_EXTRAS:
            continue
        if key not in EXTRA_KEYS:
            why = "is not a setting" if key not in FLAT else "may not be set by a connection"
            raise ConfigError(f"connection {CONN_ID}: extra field {key!r} {why} "
                              f"(allowed: {', '.join(sorted(EXTRAS))})")
        values[EXTRA_KEYS[key]] = value
    return values


def settings_from_connection(conn_id: str = CONN_ID, **overrides: Any) -> Settings:
    """Settings for a task: the Airflow connection when defined, else the environment (CLI)."""
    quiet_clients()  # issue 14: the task log shows decisions at INFO, the clients' requests at WARNING
    conn = _lookup(conn_id)
    values = merged(connection_overrides(conn) if conn is not None else {}, overrides)
    try:
        cfg = load_settings(**values)
    except ValueError as exc:
        raise ConfigError(f"connection {conn_id}: invalid settings: {exc}") from exc
    log.info("Elasticsearch settings from %s; index prefix %s",
             f"connection {conn_id}" if conn is not None else "environment", cfg.es.index_prefix)
    return cfg


def _lookup(conn_id: str) -> ConnectionLike | None:
    """The connection, or None when it is not defined (the CLI / env-var fallback)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection %s; using INGEST_* environment settings", conn_id)
        return None


# ---- task bodies: XCom (JSON) in, ingest.pipeline call, XCom out -------------------------------
# The heavy stage modules are imported inside each function so DAG files parse fast.

def due_sources(settings: Settings) -> list[dict[str, Any]]:
    """The enabled sources of ``settings.sources_file`` that are due now, as JSON (one mapped poll
    task each): the schedule (next_poll_at, backoff, Retry-After, daily probe) lives in the state."""
    from ingest import pipeline, store
    from ingest.config import load_sources

    es = store.connect(settings)
    store.apply_templates(es, settings)
    due, skipped = pipeline.due_sources(settings, load_sources(settings.files.sources_file), es=es,
                                        now=datetime.now(UTC))
    log.info("%d sources due; skipped %s", len(due), dict(skipped.skipped))
    return [s.model_dump(mode="json") for s in due]


def poll(settings: Settings, source: Mapping[str, Any]) -> dict[str, Any]:
    """Poll one source into the frontier; a failing feed is recorded, not raised. XCom: counters."""
    from ingest import pipeline
    from ingest.config import Source

    result = pipeline.poll_source(settings, Source.model_validate(source), now=datetime.now(UTC))
    log.info("polled %s: %d new%s", result.source_id, len(result.items),
             f" ({result.error})" if result.error else "")
    return pipeline.to_xcom(result.report())


def _present(results: Sequence[Any] | None) -> list[Any]:
    """The results of a mapped task that produced one: ``[:]`` reads Airflow's lazy sequence in one
    request (iterating it probes past the end, logging a spurious "XCom not found")."""
    return [r for r in (results[:] if results is not None else []) if r]


def chunk_hosts(hosts: Sequence[str], size: int) -> list[list[str]]:
    """Hosts in groups of ``size`` (one mapped fetch task each); a host is never split across tasks."""
    return [list(hosts[i:i + size]) for i in range(0, len(hosts), size)]


def plan_fetch(settings: Settings, size: int) -> list[list[str]]:
    """Hosts with due frontier entries (new, retry due, lease expired), in groups of ``size``."""
    from ingest import frontier, store

    return chunk_hosts(frontier.due_hosts(store.connect(settings), settings, now=datetime.now(UTC)), size)


def fetch_and_extract(settings: Settings, hosts: Sequence[str]) -> dict[str, Any]:
    """Lease and fetch the due entries of ``hosts``; articles stay in the frontier. XCom: ids."""
    from ingest import pipeline

    return pipeline.to_xcom(pipeline.fetch_due(settings, list(hosts), now=datetime.now(UTC)))


def dedup_and_index(settings: Settings, extracted: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Every article staged in the frontier (this run's and any a killed run left), indexed once."""
    from ingest import pipeline

    reports = [pipeline.from_xcom(pipeline.FetchReport, r) for r in _present(extracted)]
    result = pipeline.index_staged(settings, now=datetime.now(UTC))
    log.info("%d extracted by this run's fetch tasks; %d indexed",
             sum(len(r.extracted) for r in reports), len(result.indexed))
    return pipeline.to_xcom(result)


def publish(indexed: Mapping[str, Any], outlet_event: Any) -> int:
    """Attach the indexed ids to the "new articles" asset event; nothing indexed -> skip (no event)."""
    from airflow.sdk.exceptions import AirflowSkipException

    ids = list(indexed["indexed"])
    if not ids:
        raise AirflowSkipException("no new articles indexed: nothing to publish")
    outlet_event.extra = {"doc_ids": ids}
    return len(ids)


def summarize(polls: Sequence[Mapping[str, Any] | None], extracted: Sequence[Mapping[str, Any] | None],
              indexed: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's summary (counters by reason) and failing sources: logged, small for XCom."""
    from ingest.summary import RunSummary

    polls = _present(polls)
    parts = [*polls, *_present(extracted), *([indexed] if indexed else [])]
    total = sum((TypeAdapter(RunSummary).validate_python(p["summary"]) for p in parts), RunSummary())
    failing = {p["source_id"]: p["error"] for p in polls if p["error"]}
    for line in total.lines():
        log.info("run summary: %s", line)
    for source_id, error in failing.items():
        log.warning("source %s failed: %s", source_id, error)
    return {**total.to_json_dict(), "failing_sources": failing}


def source_health(settings: Settings) -> dict[str, Any]:
    """The daily source-health report, one log line per source, as JSON."""
    from ingest import maintenance

    report = maintenance.source_health(settings)
    for line in report.lines():
        log.info("source health: %s", line)
    return report.to_json_dict()


def doc_ids_from_events(events: Sequence[Any]) -> list[str]:
    """The article ids carried by the triggering "new articles" events, first occurrence order."""
    ids = [doc_id for event in events for doc_id in (event.extra or {}).get("doc_ids", [])]
    return list(dict.fromkeys(ids))


def evaluate_alerts(settings: Settings, doc_ids: list[str]) -> dict[str, Any]:
    from ingest.alerts import evaluate

    report = evaluate(settings, doc_ids).to_json_dict()
    log.info("alerts: %d rules, %d articles checked, %d matched, alerts %s, deliveries %s",
             report["rules_evaluated"], report["articles_checked"], report["matched_articles"],
             report["alerts"], report["deliveries"])
    return {k: v for k, v in report.items() if k != "alert_ids"}
