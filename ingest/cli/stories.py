"""``ingest stories top``: what is big right now — stories by number of outlets in a time window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, JsonOption, console, reports_errors, settings
from ingest.cli.text import echo_json, safe

app = typer.Typer(no_args_is_help=True)


@app.callback()
def stories() -> None:
    """Stories: what is big right now (more views to come: one group, not a lone command)."""


@app.command()
@reports_errors
def top(since: Annotated[str, typer.Option(
            help="Window start: a duration back (24h, 7d), today, yesterday, or an ISO date.")] = "24h",
        until: Annotated[str | None, typer.Option(
            help="Window end (exclusive), same forms as --since.")] = None,
        size: Annotated[int, typer.Option(help="Stories to show.")] = 10,
        as_json: JsonOption = False) -> None:
    """Stories with articles in the window: outlets, articles, first publisher, latest update, headline."""
    from ingest import store
    from ingest.search import json_record, parse_when, top_stories
    from ingest.wording import count

    cfg = settings()
    now = datetime.now(UTC)
    start = parse_when(since, now=now, what="--since")
    end = parse_when(until, now=now, what="--until") if until else None
    found = top_stories(store.connect(cfg), store.alias_name(cfg.es.index_prefix, "articles"),
                        since=start, until=end, size=size)
    if as_json:
        for story in found:
            echo_json(json_record(story))
    else:
        console.print(f"{len(found)} stories since {start:%Y-%m-%d %H:%M} UTC, by number of outlets",
                      markup=False, highlight=False)
        for rank, s in enumerate(found, 1):
            console.print(f"{rank:>2}. {safe(s.headline)}\n"
                          f"    {s.outlets} outlet(s) ({count(s.outlets)}), {s.articles} article(s); "
                          f"first {safe(s.first_publisher)} {s.first_seen or '?'}; "
                          f"latest {s.latest_update or '?'}\n"
                          f"    story {safe(s.story_id)}  {safe(s.first_url)}",
                          markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK if found else EXIT_PARTIAL)
