"""``ingest search QUERY``: ranked hits with highlighted Arabic snippets, filters for source/date/lang.

The query (the alert rules' syntax) goes through the same ``arabic_text`` analyzer as indexing, plus
the unstemmed ``.exact`` subfields so exact wording ranks first; ``ingest.search`` builds and runs it
for the CLI and the reading room alike. Copies are hidden unless ``--show-dups``. Every feed-borne
string goes through ``safe()`` before it reaches the terminal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, JsonOption, console, reports_errors, settings
from ingest.cli.text import echo_json, safe
from ingest.logs import is_verbose

if TYPE_CHECKING:
    from rich.text import Text

    from ingest.search import SearchHit

SourceOption = Annotated[list[str] | None, typer.Option("--source", help="Source id (repeatable).")]
SinceOption = Annotated[str | None, typer.Option(
    help="Published on/after: ISO date or datetime, today, yesterday, or a duration back (24h, 7d).")]
UntilOption = Annotated[str | None, typer.Option(
    help="Published before (exclusive): ISO date or datetime, today, yesterday, or a duration back.")]
LangOption = Annotated[str | None, typer.Option("--lang", help="Language code, e.g. ar.")]


@reports_errors
def search(query: Annotated[str, typer.Argument(
               help="Rules' syntax: words (any Arabic spelling), AND/OR/NOT, \"phrases\", \"a b\"~3.")],
           source: SourceOption = None, since: SinceOption = None, until: UntilOption = None,
           lang: LangOption = None, size: Annotated[int, typer.Option(help="Hits to show.")] = 10,
           show_dups: Annotated[bool, typer.Option(
               "--show-dups", help="Include copies; show each hit's dedup decision.")] = False,
           as_json: JsonOption = False) -> None:
    """Search indexed articles; exit code 1 when nothing matched, 2 for a query it cannot read."""
    from ingest import store
    from ingest.search import SearchRequest, json_record, parse_when
    from ingest.search import search as run_search

    cfg = settings()
    now = datetime.now(UTC)
    req = SearchRequest(query, sources=tuple(source or ()), lang=lang,
                        since=parse_when(since, now=now, what="--since") if since else None,
                        until=parse_when(until, now=now, what="--until") if until else None,
                        include_copies=show_dups, size=size)
    es = store.connect(cfg)
    result = run_search(es, store.alias_name(cfg.es.index_prefix, "articles"), req)
    if as_json:
        for hit in result.hits:
            echo_json(json_record(hit))
    else:
        console.print(f"{result.total} hit(s) for «{safe(query)}»", highlight=False, markup=False)
        for rank, hit in enumerate(result.hits, 1):
            render_hit(rank, hit)
            if show_dups:
                render_dedup(hit)
    raise typer.Exit(EXIT_OK if result.hits else EXIT_PARTIAL)


def render_hit(rank: int, hit: SearchHit) -> None:
    """One hit: rank, score, highlighted title, outlet and date, story id, URL, highlighted snippets."""
    from rich.text import Text

    where = f"{safe(hit.source_name or hit.source_id)} {(hit.published_at or '')[:10]}"
    console.print(Text.assemble(f"{rank:>2}. ({hit.score:.2f}) ", styled(hit.title_marked), f"  — {where}"),
                  highlight=False)
    carried = f"  also: {safe('، '.join(hit.carried_by))}" if hit.carried_by else ""
    console.print(f"    story {safe(hit.story_id)}  {safe(hit.url)}{carried}", markup=False, highlight=False,
                  soft_wrap=True)
    for fragment in hit.fragments:
        console.print(Text.assemble("    … ", styled(fragment), " …"), highlight=False)


def styled(fragment: str) -> Text:
    """The fragment as rich Text (no markup parsing, escaped), the matched words in bold yellow."""
    from rich.text import Text

    from ingest.search import marked_segments

    text = Text()
    for part, matched in marked_segments(fragment):
        text.append(safe(part), style="bold yellow" if matched else "")
    return text


def render_dedup(hit: SearchHit) -> None:
    """The dedup audit of one hit (``--show-dups``); the thresholds it was decided with only with -v."""
    d = hit.dedup
    thresholds = f" thresholds={d.get('thresholds')}" if is_verbose() else ""
    console.print(f"    dedup: tier={d.get('tier')} score={d.get('score')} matched={d.get('matched_id')} "
                  f"duplicate_of={hit.duplicate_of} story={hit.story_id}{thresholds}",
                  markup=False, highlight=False, soft_wrap=True)
