"""``ingest sources``: validate the list and check each source's health (polls, never indexes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ingest import pipeline, store
from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, console, reports_errors, settings
from ingest.config import load_sources
from ingest.errors import StoreUnavailable
from ingest.pipeline import PollResult
from ingest.settings import Settings
from ingest.sourcestate import load_states, save_state, set_paused

app = typer.Typer(no_args_is_help=True)
SourcesOption = Annotated[Path | None, typer.Option(
    "--sources", help="Sources YAML (default: Settings.sources_file).", exists=True, dir_okay=False)]
AllOption = Annotated[bool, typer.Option("--all", help="Also check disabled entries.")]


@app.command("list")
@reports_errors
def list_sources(sources: SourcesOption = None) -> None:
    """Validate the sources file and list its entries."""
    cfg = settings()
    for s in load_sources(sources or cfg.sources_file):
        flag = "" if s.enabled else "  (disabled)"
        console.print(f"{s.id:<28} {s.kind:<8} {s.country:<5} {s.url}{flag}", markup=False, highlight=False)


@app.command()
@reports_errors
def check(sources: SourcesOption = None, all_sources: AllOption = False) -> None:
    """Poll each source without indexing; print HTTP/parse health and the stored state if reachable."""
    cfg = settings()
    entries = [s for s in load_sources(sources or cfg.sources_file) if all_sources or s.enabled]
    stored = _stored_states(cfg, [s.id for s in entries])
    table = Table("source", "health now", "items", "stored state")
    failures = 0
    for source in entries:
        result = pipeline.poll_source(cfg, source, persist=False)
        failures += bool(result.error)
        table.add_row(source.id, _health(result), str(len(result.items)),
                      stored.get(source.id, "unknown (no Elasticsearch)"))
    console.print(table)
    raise typer.Exit(EXIT_PARTIAL if failures else EXIT_OK)


def _health(result: PollResult) -> str:
    if result.error:
        return f"[red]{result.state.last_status}: {result.error[:70]}[/red]"
    if result.state.last_error:
        return f"[yellow]malformed: {result.state.last_error[:60]}[/yellow]"
    return "[green]ok[/green]"


def _stored_states(cfg: Settings, ids: list[str]) -> dict[str, str]:
    """Health kept in the ``sources`` index; empty when Elasticsearch is unreachable (check still runs)."""
    try:
        return {i: s.health for i, s in load_states(store.connect(cfg), cfg, ids).items()}
    except StoreUnavailable:
        return {}


IdArgument = Annotated[str, typer.Argument(help="The source id (as in the sources file).")]


@app.command()
@reports_errors
def enable(source_id: IdArgument) -> None:
    """Resume a paused source, or re-enable an auto-disabled one: it is polled on the next run."""
    _set_paused(source_id, False)


@app.command()
@reports_errors
def disable(source_id: IdArgument) -> None:
    """Pause a source (a person's decision): never polled until `ingest sources enable ID`."""
    _set_paused(source_id, True)


def _set_paused(source_id: str, paused: bool) -> None:
    cfg = settings()
    es = store.connect(cfg)
    store.apply_templates(es, cfg)
    state = set_paused(load_states(es, cfg, [source_id])[source_id], paused)
    save_state(es, cfg, state)
    console.print(f"{source_id}: {state.health}", markup=False, highlight=False)
