"""Keyword alerts: rules matched through Elasticsearch, one alert per rule per story, sent once.

Public entry: ``evaluate(settings, doc_ids) -> AlertReport``, called after each indexed batch.
"""

from ingest.alerts.evaluate import AlertReport, evaluate, evaluate_since
from ingest.alerts.rules import Rule, RuleError, RuleSet, load_rules

__all__ = ["AlertReport", "Rule", "RuleError", "RuleSet", "evaluate", "evaluate_since", "load_rules"]
