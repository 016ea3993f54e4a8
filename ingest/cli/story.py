"""``ingest story ID``: a story (or the story of an article) with every dedup decision."""

from __future__ import annotations

from typing import Annotated

import typer

from ingest import store, stories
from ingest.cli.common import console, reports_errors, settings

app = typer.Typer()


@app.command()
@reports_errors
def show(story_id: Annotated[str, typer.Argument(help="A story id or an article id.")]) -> None:
    """First seen, first publisher, sources, and each article's tier, score, matched id, thresholds."""
    cfg = settings()
    es = store.connect(cfg)
    s = stories.story(es, cfg, stories.story_of_article(es, cfg, story_id))
    console.print(f"story {s.story_id}: {s.representative_title}", markup=False)
    console.print(
        f"first seen {s.first_seen} by {s.first_publisher}; latest {s.latest_update}; "
        f"{len(s.sources)} sources: {', '.join(s.sources)}",
        markup=False,
    )
    for a in s.articles:
        d = a["decision"] or {}
        console.print(
            f"  {a['event_at']} {a['source_id']:<14} {a['doc_id']} {d.get('tier'):<6} "
            f"score={d.get('score')} matched={d.get('matched_id')} dup_of={d.get('duplicate_of')} "
            f"| {(a['title'] or '')[:70]}",
            markup=False,
            soft_wrap=True,
        )
        console.print(
            f"      reason: {d.get('reason')}; thresholds: {d.get('thresholds')}",
            markup=False,
            soft_wrap=True,
        )
