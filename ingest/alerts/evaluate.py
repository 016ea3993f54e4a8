"""``evaluate``: after each indexed batch, match every rule, record alerts, deliver what is due.

Why one entry point does all three: the alerts DAG and the CLI call only this; each step is
idempotent (deterministic alert and delivery ids), so re-running a batch after a crash or a
retry sends nothing twice, and deliveries left pending by an earlier run go out now.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from ingest import store
from ingest.alerts import delivery, digest, render, state
from ingest.alerts.matching import group_by_story, search_rule
from ingest.alerts.rules import Rule, RuleError, RuleProblem, RuleSet, load_rules
from ingest.alerts.schedule import quiet_until
from ingest.models import to_json_dict
from ingest.settings import Settings

log = logging.getLogger("ingest.alerts")


@dataclass(frozen=True)
class AlertReport:
    """What one evaluation did; counters are labelled by outcome (JSON-serialisable for XCom)."""

    rules_evaluated: int = 0
    articles_checked: int = 0
    matched_articles: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    problems: tuple[RuleProblem, ...] = ()
    alert_ids: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return to_json_dict(self)


@dataclass
class _Run:
    es: Elasticsearch
    settings: Settings
    ruleset: RuleSet
    now: datetime
    alerts: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)
    problems: list[RuleProblem] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)
    matched: set[str] = field(default_factory=set)

    def index(self, kind: str) -> str:
        return store.alias_name(self.settings.es.index_prefix, kind)


def evaluate(settings: Settings, doc_ids: Sequence[str], *, now: datetime | None = None) -> AlertReport:
    """Match the just-indexed ``doc_ids`` against every rule; queue and send alerts and digests."""
    ruleset = load_rules(settings.alerts.rules_file)
    run = _Run(store.connect(settings), settings, ruleset, now or datetime.now(UTC),
               problems=list(ruleset.problems))
    rules = [r for r in ruleset.rules if r.enabled]
    ids = list(dict.fromkeys(doc_ids))
    if ids:
        with store.translated("refreshing articles before matching rules"):
            run.es.indices.refresh(index=run.index("articles"))
        for rule in rules:
            _match_rule(run, rule, ids)
    _queue_pending(run)
    for rule in rules:
        if rule.mode != "immediate":
            run.deliveries += digest.queue_digests(run.es, run.index(state.ALERTS_KIND),
                                                   run.index(delivery.DELIVERIES_KIND), rule,
                                                   ruleset.channels, run.now)
    run.deliveries += delivery.deliver_due(run.es, run.index(delivery.DELIVERIES_KIND), ruleset.channels,
                                           settings, run.now)
    for problem in run.problems:
        log.error("alert rule problem (%s): %s", problem.reason, problem.message)
    return AlertReport(len(rules), len(ids), len(run.matched), dict(run.alerts), dict(run.deliveries),
                       tuple(run.problems), tuple(run.alert_ids))


def evaluate_since(settings: Settings, start: datetime, *, now: datetime | None = None) -> AlertReport:
    """Evaluate the articles indexed since ``start`` (``ingest run --once`` after its pass: the
    CLI gets the same alerts as the DAG, which passes the ids it indexed)."""
    es = store.connect(settings)
    index = store.alias_name(settings.es.index_prefix, "articles")
    with store.translated(f"listing articles indexed since {start.isoformat()}"):
        es.indices.refresh(index=index)
        since = {"range": {"indexed_at": {"gte": start.isoformat()}}}
        hits = helpers.scan(es, index=index, query={"query": since, "_source": False})
        ids = [str(h["_id"]) for h in hits]
    return evaluate(settings, ids, now=now)


def _match_rule(run: _Run, rule: Rule, ids: list[str]) -> None:
    """One rule over the batch; a query Elasticsearch refuses is that rule's problem alone."""
    try:
        hits = search_rule(run.es, run.index("articles"), rule, ids=ids)
    except RuleError as exc:
        run.problems.append(RuleProblem(rule.name, exc.reason, str(exc)))
        return
    for story_id, story_hits in group_by_story(hits).items():
        run.matched.update(h.article_id for h in story_hits)
        change = state.record(run.es, run.index(state.ALERTS_KIND), rule, story_id, story_hits, run.now)
        run.alerts[change.kind] += 1
        run.alert_ids.append(change.alert["alert_id"])


def _queue_pending(run: _Run) -> None:
    """Queue the delivery of every alert version not queued yet, whichever run recorded it.

    The delivery id is (alert, version, channel), so queueing twice is harmless; the flag is
    cleared only after the queue write succeeded. Alerts of a rule that is gone or disabled stay
    pending until it comes back.
    """
    rules = {r.name: r for r in run.ruleset.rules if r.enabled}
    index = run.index(state.ALERTS_KIND)
    for hit in state.pending(run.es, index):
        alert = hit["_source"]
        rule = rules.get(alert.get("rule", ""))
        if rule is None:
            continue
        version = int(alert.get("version", 1))
        if rule.mode == "immediate" and (version == 1 or rule.notify_updates):
            msg = render.alert_message(alert, "alert" if version == 1 else "update",
                                       alert.get("new_outlets", []), run.now)
            run.deliveries += delivery.queue(run.es, run.index(delivery.DELIVERIES_KIND), rule,
                                             run.ruleset.channels, msg, (alert["alert_id"], str(version)),
                                             now=run.now, not_before=quiet_until(rule.quiet_hours, run.now))
        state.mark_notified(run.es, index, hit)
