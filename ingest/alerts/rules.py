"""Alert rules and channels: the YAML model, its loader, and a copy kept in Elasticsearch.

Why each rule is validated alone: analysts edit one shared file; a typo in one rule must not
silence the others, so a bad rule becomes a ``RuleProblem`` naming it while the rest load.
Only a file that cannot be read or parsed at all fails as a whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest.config import read_yaml
from ingest.errors import ConfigError
from ingest.indexer import bulk_write
from ingest.settings import Settings
from ingest.store import alias_name, translated
from ingest.urls import BadURL, validate_url

RULES_KIND = "alert_rules"


class RuleError(ConfigError):
    """One rule is unusable (invalid field, unknown channel, query Elasticsearch refuses)."""

    reason = "bad_rule"

    def __init__(self, rule: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(f"rule {rule!r}: {message}", reason=reason)
        self.rule = rule


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filters(_Strict):
    """Restrictions applied as exact filters, outside scoring (keyword fields)."""

    sources: tuple[str, ...] = ()
    lang: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


class QuietHours(_Strict):
    """Local wall-clock span during which deliveries wait (may cross midnight)."""

    start: time
    end: time
    tz: str = "UTC"

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Channel(_Strict):
    """Where alerts go. ``webhook`` needs ``url``; ``email`` needs ``to``; ``log`` needs nothing."""

    name: str
    type: str
    url: str | None = None
    format: Literal["json", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    to: tuple[str, ...] = ()
    path: Path | None = None

    @field_validator("type")
    @classmethod
    def _registered(cls, value: str) -> str:
        from ingest.alerts.channels import SENDERS  # the registry imports this module

        if value not in SENDERS:
            raise ValueError(f"unknown channel type {value!r} (known: {', '.join(sorted(SENDERS))})")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        if self.type == "webhook":
            try:
                validate_url(self.url or "")
            except BadURL as exc:
                raise ValueError(f"a webhook channel needs an http(s) url: {exc}") from exc
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs at least one address in `to`")
        return self


class Rule(_Strict):
    """One watched query. ``syntax`` picks Elasticsearch ``query_string`` or ``simple_query_string``."""

    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1)
    syntax: Literal["query_string", "simple"] = "query_string"
    fields: tuple[str, ...] = ("title", "body")
    default_operator: Literal["OR", "AND"] = "OR"
    filters: Filters = Filters()
    channels: tuple[str, ...] = Field(min_length=1)
    mode: Literal["immediate", "hourly", "daily"] = "immediate"
    quiet_hours: QuietHours | None = None
    notify_updates: bool = True
    enabled: bool = True
    description: str = ""

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is blank")
        return value


@dataclass(frozen=True)
class RuleProblem:
    """A rule that could not be used, and why (shown by the CLI and in every AlertReport)."""

    rule: str
    reason: str
    message: str


@dataclass(frozen=True)
class RuleSet:
    """The usable rules and channels of one file, plus what was wrong with the rest."""

    rules: tuple[Rule, ...]
    channels: Mapping[str, Channel]
    problems: tuple[RuleProblem, ...] = ()
    source: str = ""

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        known = ", ".join(r.name for r in self.rules) or "none"
        raise ConfigError(f"{self.source}: no usable rule named {name!r} (usable: {known})")


@dataclass
class _Builder:
    channels: dict[str, Channel] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)

    def problem(self, name: str, reason: str, message: str) -> None:
        self.problems.append(RuleProblem(name, reason, message))


def load_rules(path: Path) -> RuleSet:
    """Parse a rules file; raises ``ConfigError`` only when the file as a whole is unusable."""
    return parse_rules(_read_yaml(path), source=str(path))


def _read_yaml(path: Path) -> Mapping[str, Any]:
    doc = read_yaml(path, "rules file")
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise ConfigError(f"rules file {path}: expected a mapping with a `rules:` list")
    return doc


def parse_rules(doc: Mapping[str, Any], *, source: str = "<rules>") -> RuleSet:
    """Validate channels then rules, each alone; problems are collected, not raised."""
    built = _Builder()
    for name, spec in (doc.get("channels") or {}).items():
        _add_channel(built, str(name), spec)
    seen: set[str] = set()
    for index, spec in enumerate(doc["rules"], start=1):
        name = _rule_name(spec, index)
        if name in seen:
            built.problem(name, "duplicate_rule", f"{source}: rule {name!r} is defined twice")
            continue
        seen.add(name)
        _add_rule(built, name, spec, source)
    return RuleSet(tuple(built.rules), dict(built.channels), tuple(built.problems), source)


def _rule_name(spec: object, index: int) -> str:
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str) and spec["name"].strip():
        return spec["name"].strip()
    return f"#{index}"


def _add_channel(built: _Builder, name: str, spec: object) -> None:
    try:
        built.channels[name] = Channel.model_validate({**_as_mapping(spec), "name": name})
    except (ValidationError, ValueError) as exc:
        built.problem(f"channel:{name}", "bad_channel", f"channel {name!r}: {_explain(exc)}")


def _add_rule(built: _Builder, name: str, spec: object, source: str) -> None:
    try:
        rule = Rule.model_validate({**_as_mapping(spec), "name": name})
    except (ValidationError, ValueError) as exc:
        built.problem(name, "bad_rule", f"{source}: rule {name!r}: {_explain(exc)}")
        return
    unknown = [c for c in rule.channels if c not in built.channels]
    if unknown:
        built.problem(name, "unknown_channel",
                      f"{source}: rule {name!r}: unknown or invalid channel(s) {', '.join(unknown)}")
        return
    built.rules.append(rule)


def _as_mapping(spec: object) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise ValueError(f"expected a mapping, got {type(spec).__name__}")
    return spec


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                         for e in exc.errors())
    return str(exc)


def rule_doc_id(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def store_rules(es: Elasticsearch, settings: Settings, ruleset: RuleSet, *, now: datetime) -> list[str]:
    """Copy the usable rules into the ``alert_rules`` index (for Kibana and audit); returns ids."""
    docs = [{"_id": rule_doc_id(r.name), **rule_document(r), "loaded_at": now.isoformat(),
             "source_file": ruleset.source} for r in ruleset.rules]
    report = bulk_write(es, alias_name(settings.es.index_prefix, RULES_KIND), docs, refresh="wait_for")
    if report.failed:
        raise ConfigError(f"storing rules failed: {report.failed}")
    return report.ok


def rule_document(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json")


def rules_from_index(es: Elasticsearch, settings: Settings) -> RuleSet:
    """Rules as last stored with ``store_rules`` (channels are not stored: they may hold secrets)."""
    with translated("reading stored alert rules"):
        resp = es.search(index=alias_name(settings.es.index_prefix, RULES_KIND), size=1000,
                         query={"match_all": {}})
    rules = tuple(Rule.model_validate({k: v for k, v in h["_source"].items()
                                       if k in Rule.model_fields}) for h in resp["hits"]["hits"])
    return RuleSet(rules, {}, (), "index")


__all__: Sequence[str] = ["Channel", "Filters", "QuietHours", "Rule", "RuleError", "RuleProblem",
                          "RuleSet", "load_rules", "parse_rules", "rules_from_index", "store_rules"]
