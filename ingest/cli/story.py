"""``ingest story ID``: a story (or the story of an article) with every dedup decision."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from ingest.cli.common import JsonOption, console, reports_errors, settings
from ingest.cli.text import echo_json, safe
from ingest.logs import is_verbose

app = typer.Typer()


@app.command()
@reports_errors
def show(story_id: Annotated[str, typer.Argument(help="A story id or an article id.")],
         as_json: JsonOption = False) -> None:
    """First seen, first publisher, outlets, and each article's outlet, URL, tier, score, matched id."""
    from ingest import store, stories
    from ingest.search import articles_by_id

    cfg = settings()
    es = store.connect(cfg)
    s = stories.story(es, cfg, stories.story_of_article(es, cfg, story_id))
    refs = articles_by_id(es, store.alias_name(cfg.es.index_prefix, "articles"),
                          [a["doc_id"] for a in s.articles])
    names = {r.source_id: r.source_name for r in refs.values()}
    if as_json:
        record = dataclasses.asdict(s)
        for article in record["articles"]:
            ref = refs.get(article["doc_id"])
            article["source_name"] = ref.source_name if ref else article["source_id"]
        echo_json(record)
        return
    outlets = [names.get(i, i) for i in s.sources]
    console.print(f"story {safe(s.story_id)}: {safe(s.representative_title)}", markup=False, highlight=False,
                  soft_wrap=True)
    console.print(f"first seen {s.first_seen} by {safe(names.get(s.first_publisher, s.first_publisher))}; "
                  f"latest {s.latest_update}; {len(outlets)} outlet(s): {safe('، '.join(outlets))}",
                  markup=False, highlight=False, soft_wrap=True)
    for a in s.articles:
        d = a["decision"] or {}
        outlet = names.get(a["source_id"], a["source_id"])
        console.print(f"  {a['event_at']} {safe(outlet)} [{safe(a['source_id'])}] {a['doc_id']} "
                      f"{d.get('tier')} score={d.get('score')} matched={d.get('matched_id')} "
                      f"dup_of={d.get('duplicate_of')}\n"
                      f"      {safe(a['title'] or '')}\n      {safe(a.get('url') or '')}",
                      markup=False, highlight=False, soft_wrap=True)
        detail = f"; thresholds: {d.get('thresholds')}" if is_verbose() else ""
        console.print(f"      reason: {safe(d.get('reason'))}{detail}", markup=False, highlight=False,
                      soft_wrap=True)
