"""``ingest run``: poll every source, fetch, extract, dedup and index (once, or on a schedule)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ingest import pipeline
from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, console, reports_errors, settings
from ingest.cli.sources import SourcesOption
from ingest.config import Source, load_sources
from ingest.settings import Settings
from ingest.summary import RunSummary

OnceOption = Annotated[bool, typer.Option("--once", help="One pass over the due sources, then exit.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Poll every enabled source, due or not.")]
EveryOption = Annotated[float, typer.Option(help="Without --once: seconds between passes.")]


@reports_errors
def run(once: OnceOption = False, sources: SourcesOption = None,
        every: EveryOption = 300.0, force: ForceOption = False) -> None:
    """Run the pipeline: poll the sources that are due (all with --force), fetch what the frontier
    says is due, index. Exit code 0 = all good, 1 = some items failed (see the summary)."""
    cfg = settings()
    source_list = load_sources(sources or cfg.sources_file)
    while True:
        summary = _one_pass(cfg, source_list, force)
        if once:
            raise typer.Exit(EXIT_PARTIAL if summary.total_failed else EXIT_OK)
        time.sleep(every)


def _one_pass(cfg: Settings, source_list: list[Source], force: bool) -> RunSummary:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(f"polling {len(source_list)} sources", total=None)
        summary = pipeline.run_once(cfg, source_list, force=force,
                                    progress=lambda message: progress.update(task, description=message))
    console.print("[bold]run summary[/bold]")
    for line in summary.lines():
        console.print("  " + line, markup=False, highlight=False)
    return summary
