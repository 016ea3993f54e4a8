"""``ingest search QUERY``: ranked hits with highlighted Arabic snippets, filters for source/date/lang.

The query (the alert rules' syntax) goes through the same ``arabic_text`` analyzer as indexing, plus
the unstemmed ``.exact`` subfields so exact wording ranks first; ``ingest.search`` builds and runs it
for the CLI and the reading room alike. Copies are hidden unless ``--show-dups``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from ingest import store
from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, console, reports_errors, settings
from ingest.search import SearchHit, SearchRequest, marked_segments, parse_when
from ingest.search import search as run_search

SourceOption = Annotated[list[str] | None, typer.Option("--source", help="Source id (repeatable).")]
SinceOption = Annotated[str | None, typer.Option(
    help="Published on/after: ISO date or datetime, today, yesterday, or a duration back (24h, 7d).")]
UntilOption = Annotated[str | None, typer.Option(
    help="Published before: ISO date or datetime, today, yesterday, or a duration back (24h, 7d).")]
LangOption = Annotated[str | None, typer.Option("--lang", help="Language code, e.g. ar.")]


@reports_errors
def search(query: Annotated[str, typer.Argument(
               help="Rules' syntax: words (any Arabic spelling), AND/OR/NOT, \"phrases\", \"a b\"~3.")],
           source: SourceOption = None, since: SinceOption = None, until: UntilOption = None,
           lang: LangOption = None, size: Annotated[int, typer.Option(help="Hits to show.")] = 10,
           show_dups: Annotated[bool, typer.Option(
               "--show-dups", help="Include copies; show each hit's dedup decision.")] = False) -> None:
    """Search indexed articles; exit code 1 when nothing matched, 2 for a query it cannot read."""
    cfg = settings()
    now = datetime.now(UTC)
    req = SearchRequest(query, sources=tuple(source or ()), lang=lang,
                        since=parse_when(since, now=now, what="--since") if since else None,
                        until=parse_when(until, now=now, what="--until") if until else None,
                        include_copies=show_dups, size=size)
    es = store.connect(cfg)
    result = run_search(es, store.alias_name(cfg.index_prefix, "articles"), req)
    console.print(f"{result.total} hit(s) for «{query}»", highlight=False, markup=False)
    for rank, hit in enumerate(result.hits, 1):
        render_hit(rank, hit)
        if show_dups:
            render_dedup(hit)
    raise typer.Exit(EXIT_OK if result.hits else EXIT_PARTIAL)


def render_hit(rank: int, hit: SearchHit) -> None:
    """One hit: rank, score, highlighted title, source and date, URL, highlighted snippets."""
    where = f"{hit.source_name} {(hit.published_at or '')[:10]}"
    console.print(Text.assemble(f"{rank:>2}. ({hit.score:.2f}) ", styled(hit.title_marked), f"  — {where}"),
                  highlight=False)
    console.print(f"    {hit.url}", markup=False, highlight=False)
    for fragment in hit.fragments:
        console.print(Text.assemble("    … ", styled(fragment), " …"), highlight=False)


def styled(fragment: str) -> Text:
    """The fragment as rich Text (no markup parsing), the matched words in bold yellow."""
    text = Text()
    for part, matched in marked_segments(fragment):
        text.append(part, style="bold yellow" if matched else "")
    return text


def render_dedup(hit: SearchHit) -> None:
    """The dedup audit of one hit (``--show-dups``): why it is, or is not, a copy."""
    d = hit.dedup
    console.print(f"    dedup: tier={d.get('tier')} score={d.get('score')} matched={d.get('matched_id')} "
                  f"duplicate_of={hit.duplicate_of} story={hit.story_id} "
                  f"thresholds={d.get('thresholds')}", markup=False, highlight=False, soft_wrap=True)
