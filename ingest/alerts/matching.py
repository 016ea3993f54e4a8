"""Run a rule as an Elasticsearch query, so it matches exactly what the same Kibana search finds.

Why a real search and not local matching: the rule goes through the index's own Arabic analyzers
(hamza/alef normalisation, clitic stripping), the same ones a Kibana search on ``title``/``body``
uses. Restricting to the just-indexed ids keeps each batch's evaluation small.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from ingest import store
from ingest.alerts.rules import Rule, RuleError

_SOURCE_FIELDS = ["title", "url", "source", "sources", "story_id", "published_at", "lang"]
_EM = re.compile(r"<em>(.*?)</em>", re.DOTALL)
ID_CHUNK = 1000


@dataclass(frozen=True)
class Highlight:
    """One highlighted fragment (HTML-escaped, matched terms inside ``<em>``)."""

    article_id: str
    field: str
    fragment: str


@dataclass(frozen=True)
class Hit:
    """An article a rule matched, with what it matched."""

    article_id: str
    story_id: str
    title: str
    url: str
    source_id: str
    source_name: str
    published_at: str | None
    sources: tuple[str, ...]
    highlights: tuple[Highlight, ...]
    matched_terms: tuple[str, ...]


def text_query(rule: Rule) -> dict[str, Any]:
    """The rule's full-text clause, with query_string or simple_query_string semantics."""
    body = {"query": rule.query, "fields": list(rule.fields), "default_operator": rule.default_operator}
    if rule.syntax == "simple":
        return {"simple_query_string": body}
    return {"query_string": {**body, "allow_leading_wildcard": False}}


def filter_clauses(rule: Rule) -> list[dict[str, Any]]:
    """Exact keyword filters (sources, language, countries); empty lists mean no restriction."""
    wanted = {"source.id": rule.filters.sources, "lang": rule.filters.lang,
              "source.country": rule.filters.countries}
    return [{"terms": {name: list(values)}} for name, values in wanted.items() if values]


def rule_query(rule: Rule, *, ids: Sequence[str] | None = None,
               extra_filters: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The complete bool query: scoring text clause plus non-scoring filters."""
    filters = filter_clauses(rule) + list(extra_filters)
    if ids is not None:
        filters.append({"ids": {"values": list(ids)}})
    return {"bool": {"must": [text_query(rule)], "filter": filters}}


def since_filter(start: datetime) -> dict[str, Any]:
    """Articles indexed, fetched or published since ``start`` (whichever field the document has)."""
    fields = ("indexed_at", "fetched_at", "published_at")
    return {"bool": {"should": [{"range": {f: {"gte": start.isoformat()}}} for f in fields],
                     "minimum_should_match": 1}}


def _highlight_spec(rule: Rule) -> dict[str, Any]:
    fields = {f.split("^", 1)[0]: {"number_of_fragments": 3, "fragment_size": 160} for f in rule.fields}
    return {"encoder": "html", "pre_tags": ["<em>"], "post_tags": ["</em>"], "fields": fields}


def search_rule(es: Elasticsearch, index: str, rule: Rule, *, ids: Sequence[str] | None = None,
                extra_filters: Iterable[dict[str, Any]] = (), size: int = 1000) -> list[Hit]:
    """Every article matching ``rule`` (among ``ids`` when given); a refused query is a RuleError."""
    if ids is not None:
        chunks = [ids[i:i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]
        return [hit for chunk in chunks
                for hit in _search(es, index, rule, rule_query(rule, ids=chunk), len(chunk))]
    return _search(es, index, rule, rule_query(rule, extra_filters=extra_filters), size)


def _search(es: Elasticsearch, index: str, rule: Rule, query: dict[str, Any], size: int) -> list[Hit]:
    with store.translated(f"searching {index} for rule {rule.name!r}"):
        try:
            resp = es.search(index=index, query=query, size=size, highlight=_highlight_spec(rule),
                             source_includes=_SOURCE_FIELDS)
        except ApiError as exc:
            if exc.meta.status != 400:
                raise
            raise RuleError(rule.name, f"Elasticsearch refused the query: {_root_cause(exc)}",
                            reason="bad_query") from exc
    return [to_hit(h) for h in resp["hits"]["hits"]]


def validate_rule(es: Elasticsearch, index: str, rule: Rule) -> str:
    """Why Elasticsearch (validate API, the index's own analyzers) would refuse the rule's query;
    an empty string when it is valid."""
    with store.translated(f"validating rule {rule.name!r} against {index}"):
        resp = es.indices.validate_query(index=index, query=rule_query(rule), explain=True)
    if resp.get("valid"):
        return ""
    errors = [str(e.get("error", "")).splitlines()[0] for e in resp.get("explanations", []) if e.get("error")]
    return errors[0] if errors else str(resp.get("error") or "invalid query")


def _root_cause(exc: ApiError) -> str:
    """The parser's own words (first shard failure's cause), not the generic "all shards failed"."""
    error = exc.info.get("error", {}) if isinstance(exc.info, dict) else {}
    error = error if isinstance(error, dict) else {}
    shards = error.get("failed_shards") or []
    start = shards[0].get("reason") or {} if shards else error
    cause = start.get("caused_by") or start
    reason = str(cause.get("reason") or exc.message).splitlines()[0]
    return f"{cause.get('type', 'error')}: {reason}"


def to_hit(raw: dict[str, Any]) -> Hit:
    """A search hit as a ``Hit``; an article without ``story_id`` is its own story."""
    src, doc_id = raw.get("_source", {}), str(raw["_id"])
    source = src.get("source") or {}
    highlights = tuple(Highlight(doc_id, field, frag)
                       for field, frags in (raw.get("highlight") or {}).items() for frag in frags)
    own = source.get("id") or ""
    return Hit(article_id=doc_id, story_id=src.get("story_id") or doc_id, title=src.get("title") or "",
               url=src.get("url") or "", source_id=own, source_name=source.get("name") or own,
               published_at=src.get("published_at"),
               sources=_sources(own, src.get("sources")),
               highlights=highlights, matched_terms=matched_terms(h.fragment for h in highlights))


def _sources(own: str, others: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(s for s in dict.fromkeys([own, *(others or [])]) if s)


def matched_terms(fragments: Iterable[str]) -> tuple[str, ...]:
    """The distinct highlighted words, unescaped, in order of first appearance."""
    found = (html.unescape(m).strip() for frag in fragments for m in _EM.findall(frag))
    return tuple(dict.fromkeys(t for t in found if t))


def group_by_story(hits: Iterable[Hit]) -> dict[str, list[Hit]]:
    """Hits keyed by story, in first-seen order: the unit of alerting."""
    stories: dict[str, list[Hit]] = {}
    for hit in hits:
        stories.setdefault(hit.story_id, []).append(hit)
    return stories
