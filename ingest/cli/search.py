"""``ingest search QUERY``: ranked hits with highlighted Arabic snippets, filters for source/date/lang.

The query goes through the same ``arabic_text`` analyzer as indexing (hamza/alef forms, taa
marbuta, diacritics and stems all normalised), plus the unstemmed ``.exact`` subfields so exact
wording ranks first. Extension point for the dedup team: ``--show-dups`` adds a switch in
``search`` and changes ``duplicate_filter`` / ``render_hit`` below (by default duplicates are hidden).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

import typer
from elasticsearch import ApiError, Elasticsearch
from rich.text import Text

from ingest import store
from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, console, reports_errors, settings
from ingest.errors import StoreError

MARK_ON, MARK_OFF = "\u0002", "\u0003"  # sentinels, turned into rich markup after escaping
FIELDS = ["title^3", "title.exact^4", "body", "body.exact^1.5", "description", "summary"]
SourceOption = Annotated[list[str] | None, typer.Option("--source", help="Source id (repeatable).")]
DateOption = Annotated[str | None, typer.Option(help="Published on/after (from) or before (to), YYYY-MM-DD.")]
LangOption = Annotated[str | None, typer.Option("--lang", help="Language code, e.g. ar.")]


@reports_errors
def search(query: Annotated[str, typer.Argument(help="Words to look for (any Arabic spelling).")],
           source: SourceOption = None, since: DateOption = None, until: DateOption = None,
           lang: LangOption = None, size: Annotated[int, typer.Option(help="Hits to show.")] = 10,
           show_dups: Annotated[bool, typer.Option(
               "--show-dups", help="Include copies; show each hit's dedup decision.")] = False) -> None:
    """Search indexed articles; exit code 1 when nothing matched."""
    cfg = settings()
    es = store.connect(cfg)
    body = build_query(query, sources=source or [], since=since, until=until, lang=lang, show_dups=show_dups)
    hits = run_search(es, store.alias_name(cfg.index_prefix, "articles"), body, size)
    console.print(f"{hits['total']['value']} hit(s) for «{query}»", highlight=False)
    for rank, hit in enumerate(hits["hits"], 1):
        render_hit(rank, hit)
        if show_dups:
            render_dedup(hit)
    raise typer.Exit(EXIT_OK if hits["hits"] else EXIT_PARTIAL)


def build_query(text: str, *, sources: list[str], since: str | None, until: str | None,
                lang: str | None, show_dups: bool = False) -> dict[str, Any]:
    """The request body: multi_match over analysed + exact fields, filters, highlighting."""
    filters: list[dict[str, Any]] = [] if show_dups else [*duplicate_filter()]
    if sources:
        filters.append({"terms": {"source.id": sources}})
    if lang:
        filters.append({"term": {"lang": lang}})
    if since or until:
        bounds = {k: date.fromisoformat(v).isoformat() for k, v in (("gte", since), ("lt", until)) if v}
        filters.append({"range": {"published_at": bounds}})
    return {
        "query": {"bool": {"must": [{"multi_match": {"query": text, "fields": FIELDS}}], "filter": filters}},
        "highlight": {"fields": {"body": {"fragment_size": 160, "number_of_fragments": 2},
                                 "title": {"number_of_fragments": 0}},
                      "pre_tags": [MARK_ON], "post_tags": [MARK_OFF]},
        "_source": ["title", "url", "source", "published_at", "lang", "duplicate_of", "story_id", "dedup"],
    }


def duplicate_filter() -> list[dict[str, Any]]:
    """Hide documents marked as copies of another (the dedup team's ``--show-dups`` lifts this)."""
    return [{"bool": {"must_not": {"exists": {"field": "duplicate_of"}}}}]


def run_search(es: Elasticsearch, index: str, body: dict[str, Any], size: int) -> dict[str, Any]:
    try:
        return dict(es.search(index=index, size=size, **body)["hits"])
    except ApiError as exc:
        raise StoreError(f"search on {index} failed: {exc.message}") from exc


def render_hit(rank: int, hit: dict[str, Any]) -> None:
    """One hit: rank, score, highlighted title, source and date, URL, highlighted snippets."""
    src, marks = hit["_source"], hit.get("highlight", {})
    title = styled(marks.get("title", [src.get("title", "")])[0])
    where = f"{src.get('source', {}).get('name', '')} {(src.get('published_at') or '')[:10]}"
    console.print(Text.assemble(f"{rank:>2}. ({hit['_score']:.2f}) ", title, f"  — {where}"), highlight=False)
    console.print(f"    {src.get('url', '')}", markup=False, highlight=False)
    for fragment in marks.get("body", []):
        console.print(Text.assemble("    … ", styled(" ".join(fragment.split())), " …"), highlight=False)


def styled(fragment: str) -> Text:
    """The fragment as rich Text (no markup parsing), Elasticsearch's highlights in bold yellow."""
    text = Text()
    for n, part in enumerate(re.split(f"[{MARK_ON}{MARK_OFF}]", fragment)):
        text.append(part, style="bold yellow" if n % 2 else "")
    return text


def render_dedup(hit: dict[str, Any]) -> None:
    """The dedup audit of one hit (``--show-dups``): why it is, or is not, a copy."""
    src, d = hit["_source"], hit["_source"].get("dedup") or {}
    console.print(f"    dedup: tier={d.get('tier')} score={d.get('score')} matched={d.get('matched_id')} "
                  f"duplicate_of={src.get('duplicate_of')} story={src.get('story_id')} "
                  f"thresholds={d.get('thresholds')}", markup=False, highlight=False, soft_wrap=True)
