"""Story view: an aggregation over the dedup registry (no extra index to keep in step).

Why an aggregation: a story only ever grows by new registry documents (append-only), so its
first seen / first publisher / sources count / latest update are computed when asked, and two
workers never need to update a shared story document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from ingest.dedup import registry
from ingest.errors import PermanentError
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
    query = {"term": {"decision.story_id": story_id}}
    docs = registry.search(
        es,
        registry.alias(settings),
        query,
        size=size,
        fields=["doc_id", "source_id", "title", "event_at", "url", "decision"],
    )
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


def story_of_article(es: Elasticsearch, settings: Settings, doc_id: str) -> str:
    """Accept an article id too: its story id from the registry."""
    doc = registry.get_many(es, registry.alias(settings), [doc_id]).get(doc_id)
    if doc is None or doc.get("state") != "decided":
        return doc_id
    return str(doc["decision"]["story_id"])
