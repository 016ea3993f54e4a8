"""Story view: an aggregation over the dedup registry (no extra index to keep in step).

Why an aggregation: a story only grows by new registry documents, and when two stories turn out
to be one, only the later founder's entry changes (it names the earlier story); so first seen /
first publisher / sources count / latest update are computed when asked, following founders,
and two workers never need to update a shared story document.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from elasticsearch import Elasticsearch, helpers

from ingest import store
from ingest.dedup import Decision, registry
from ingest.dedup.decide import decision_from_registry
from ingest.errors import PermanentError, StoreError
from ingest.settings import Settings


class StoryNotFound(PermanentError):
    reason = "story_not_found"


@dataclass(frozen=True)
class Story:
    story_id: str
    first_seen: str
    first_publisher: str
    representative_title: str
    latest_update: str
    sources: tuple[str, ...]
    articles: tuple[dict[str, Any], ...]  # doc_id, source, title, event_at, decision (the audit)


def story(es: Elasticsearch, settings: Settings, story_id: str, *, size: int = 200) -> Story:
    """The story's articles in publication order, with each one's dedup decision."""
    docs = _members(es, registry.alias(settings), story_id, size)
    if not docs:
        raise StoryNotFound(f"no story {story_id!r} in {registry.alias(settings)}")
    docs.sort(key=lambda d: (d["event_at"], d["doc_id"]))
    first = docs[0]
    return Story(
        story_id=story_id,
        first_seen=first["event_at"],
        first_publisher=first["source_id"],
        representative_title=first.get("title") or "",
        latest_update=docs[-1]["event_at"],
        sources=tuple(sorted({d["source_id"] for d in docs})),
        articles=tuple(
            {k: d.get(k) for k in ("doc_id", "source_id", "title", "event_at", "url", "decision")}
            for d in docs
        ),
    )


def _members(es: Elasticsearch, index: str, story_id: str, size: int) -> list[dict[str, Any]]:
    """Articles whose story is ``story_id``, directly or through a founder that joined it (the
    members of a merged story still name their first founder, which now names this story)."""
    fields = ["doc_id", "source_id", "title", "event_at", "url", "decision"]
    found: dict[str, dict[str, Any]] = {}
    frontier = [story_id]
    while frontier and len(found) < size:
        query = {"terms": {"decision.story_id": frontier}}
        hits = registry.search(es, index, query, size=size - len(found), fields=fields)
        fresh = [h for h in hits if h["doc_id"] not in found]
        found |= {h["doc_id"]: h for h in fresh}
        frontier = [h["doc_id"] for h in fresh if h["doc_id"] != story_id]
    return list(found.values())


def final_decisions(es: Elasticsearch, settings: Settings, doc_ids: list[str]) -> dict[str, Decision]:
    """Each article's decision as the registry holds it now, its story followed to where the story's
    founder went (a story that joined an earlier one takes its members along)."""
    index = registry.alias(settings)
    docs = registry.get_many(es, index, doc_ids)
    out = {i: decision_from_registry(d) for i, d in docs.items() if d.get("state") == "decided"}

    def lookup(doc_id: str) -> dict[str, Any]:
        if doc_id not in docs:
            docs[doc_id] = registry.get_many(es, index, [doc_id]).get(doc_id) or {}
        return docs[doc_id]

    def pointer(doc_id: str) -> str | None:
        doc = lookup(doc_id)
        return doc["decision"]["story_id"] if doc.get("state") == "decided" else None

    def rank(doc_id: str) -> tuple[str, str]:
        return (lookup(doc_id).get("event_at", "~"), doc_id)

    def resolve(story_id: str) -> str:
        return registry.founder(story_id, pointer, rank)

    return {i: replace(d, story_id=resolve(d.story_id)) for i, d in out.items()}


def relabel(es: Elasticsearch, settings: Settings, founders: list[str]) -> int:
    """Give the articles indexed under ``founders`` (story founders that have joined another story)
    the story they are in now; how many were relabelled.

    The articles index keeps each article's story id as decided when it was indexed, and top
    stories, alerts and Kibana group by it: without this, a story that two merged halves make
    stays two stories there, while the registry (``story``) knows it is one."""
    if not founders:
        return 0
    now = {f: d.story_id for f, d in final_decisions(es, settings, founders).items() if d.story_id != f}
    if not now:
        return 0
    index = store.alias_name(settings.es.index_prefix, "articles")
    with store.translated("relabelling merged stories"):
        hits = helpers.scan(es, index=index, query={"query": {"terms": {"story_id": list(now)}}},
                            _source=["story_id"])
        actions = ({"_op_type": "update", "_index": index, "_id": h["_id"],
                    "doc": {"story_id": now[h["_source"]["story_id"]]}} for h in hits)
        done, errors = helpers.bulk(es, actions, raise_on_error=False, refresh=True)
    if errors:
        raise StoreError(f"relabelling merged stories: {len(errors)} articles failed, first: {errors[0]}")
    return done


def story_of_article(es: Elasticsearch, settings: Settings, doc_id: str) -> str:
    """Accept an article id too: its story id from the registry (where its founder went)."""
    d = final_decisions(es, settings, [doc_id]).get(doc_id)
    return d.story_id if d is not None else doc_id
