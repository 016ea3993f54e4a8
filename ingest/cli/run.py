"""``ingest run``: poll every source, fetch, extract, dedup and index (once, or on a schedule)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ingest.config import Source
    from ingest.settings import Settings
    from ingest.summary import RunSummary

from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, console, progress, reports_errors, settings
from ingest.cli.sources import SourcesOption

OnceOption = Annotated[bool, typer.Option("--once", help="One pass over the due sources, then exit.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Poll every enabled source, due or not.")]
EveryOption = Annotated[float, typer.Option(help="Without --once: seconds between passes.")]
NoAlertsOption = Annotated[bool, typer.Option("--no-alerts",
                                              help="Do not evaluate alert rules after the pass.")]


@reports_errors
def run(once: OnceOption = False, sources: SourcesOption = None,
        every: EveryOption = 300.0, force: ForceOption = False, no_alerts: NoAlertsOption = False) -> None:
    """Run the pipeline: poll the sources that are due (all with --force), fetch what the frontier
    says is due, index, then the alert rules over what it indexed (like the DAG).
    Exit code 0 = all good, 1 = some items failed (see the summary)."""
    from ingest.config import load_sources

    cfg = settings()
    source_list = load_sources(sources or cfg.files.sources_file)
    while True:
        started = datetime.now(UTC) - timedelta(seconds=1)  # indexed_at is set by this same clock
        summary = _one_pass(cfg, source_list, force)
        if not no_alerts:
            _alerts(cfg, started)
        if once:
            raise typer.Exit(EXIT_PARTIAL if summary.total_failed else EXIT_OK)
        time.sleep(every)


def _one_pass(cfg: Settings, source_list: list[Source], force: bool) -> RunSummary:
    from ingest import pipeline

    started = datetime.now(UTC)
    with progress(f"polling {len(source_list)} sources") as update:
        summary = pipeline.run_once(cfg, source_list, force=force, progress=update)
    console.print("[bold]run summary[/bold]")
    for line in summary.lines():
        console.print("  " + line, markup=False, highlight=False)
    render_failing(failing_sources(cfg, source_list, started))
    return summary


def _alerts(cfg: Settings, started: datetime) -> None:
    from ingest.alerts import evaluate_since

    report = evaluate_since(cfg, started)
    console.print(f"alerts: {report.rules_evaluated} rules over {report.articles_checked} new articles, "
                  f"{report.matched_articles} matched; alerts {report.alerts or {}}; "
                  f"deliveries {report.deliveries or {}}", markup=False, highlight=False, soft_wrap=True)
    for problem in report.problems:
        console.print(f"alert rule problem {problem.rule} ({problem.reason}): {problem.message}",
                      markup=False, highlight=False)


def failing_sources(cfg: Settings, source_list: list[Source], since: datetime) -> list[str]:
    """"name [id]: status message" of each source whose poll failed in this pass (from its stored state)."""
    from ingest import store
    from ingest.errors import StoreUnavailable
    from ingest.sourcestate import load_states

    try:
        states = load_states(store.connect(cfg), cfg, [s.id for s in source_list])
    except StoreUnavailable:
        return []
    names = {s.id: s.name for s in source_list}
    return [f"{names.get(i, i)} [{i}]: {st.last_status} {st.last_error}".rstrip()
            for i, st in sorted(states.items())
            if st.failures and st.last_polled_at is not None and st.last_polled_at >= since]


def render_failing(lines: list[str]) -> None:
    """The failing sources by name, whole messages, escaped (feed-borne text)."""
    from ingest.cli.text import safe

    if lines:
        console.print(f"[bold]failing sources[/bold] ({len(lines)})")
    for line in lines:
        console.print("  " + safe(line), markup=False, highlight=False, soft_wrap=True)
