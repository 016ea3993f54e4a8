"""Export rules as Kibana "Elasticsearch query" (``.es-query``) rule definitions.

Why: teams that prefer Kibana alerting get the same query the pipeline runs (same bool query,
same analysed fields), as the body of ``POST /api/alerting/rule``. The shape follows Kibana's own
API examples (``../shared/fixtures/kibana/rules/``): ``searchType: esQuery``, ``esQuery`` as a JSON
string holding only ``query``, and ``groupBy: top`` on ``story_id`` so Kibana, too, raises one
alert per story. Kibana has no ids filter for "the batch just indexed": a time window on
``time_field`` plays that part, and ``excludeHitsFromPreviousRun`` stops repeats.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ingest.alerts.matching import rule_query
from ingest.alerts.rules import Rule, RuleSet

SCHEDULE = {"immediate": ("5m", 5, "m"), "hourly": ("1h", 1, "h"), "daily": ("1d", 1, "d")}


def es_query_rule(rule: Rule, *, index: str, time_field: str = "indexed_at",
                  connector_id: str | None = None) -> dict[str, Any]:
    """One rule as a Kibana create-rule request body."""
    interval, size, unit = SCHEDULE[rule.mode]
    body: dict[str, Any] = {
        "name": f"news alert: {rule.name}",
        "rule_type_id": ".es-query",
        "consumer": "alerts",
        "enabled": rule.enabled,
        "tags": ["news-ingest", "alerts", rule.mode],
        "schedule": {"interval": interval},
        "params": {
            "searchType": "esQuery", "index": [index], "timeField": time_field,
            "esQuery": json.dumps({"query": rule_query(rule)}, ensure_ascii=False),
            "size": 100, "threshold": [0], "thresholdComparator": ">",
            "timeWindowSize": size, "timeWindowUnit": unit, "excludeHitsFromPreviousRun": True,
            "aggType": "count", "groupBy": "top", "termField": "story_id", "termSize": 100,
        },
        "actions": [],
    }
    if connector_id:
        body["actions"] = [_server_log_action(rule, connector_id, interval)]
    return body


def _server_log_action(rule: Rule, connector_id: str, interval: str) -> dict[str, Any]:
    message = (f"{rule.name}: {{{{context.hits.length}}}} new article(s) for story "
               "{{context.group}} ({{context.date}})")
    return {"group": "query matched", "id": connector_id, "params": {"level": "info", "message": message},
            "frequency": {"summary": False, "notify_when": "onActionGroupChange"}}


def export(ruleset: RuleSet, out_dir: Path, *, index: str, time_field: str = "indexed_at",
           connector_id: str | None = None) -> list[Path]:
    """Write one ``<rule>.json`` per usable rule into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rule in ruleset.rules:
        path = out_dir / f"{_slug(rule.name)}.json"
        body = es_query_rule(rule, index=index, time_field=time_field, connector_id=connector_id)
        path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _slug(name: str) -> str:
    """A file name from a rule name (Arabic letters kept; separators and odd characters dropped)."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "rule"
