"""``ingest maintenance``: what the daily maintenance DAG does, by hand (same functions)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ingest.cli.common import console, reports_errors, settings

app = typer.Typer(no_args_is_help=True)
DaysOption = Annotated[int | None, typer.Option(
    help="Days of items-per-day history (default: the DAG's, 7).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
RetentionOption = Annotated[int | None, typer.Option(
    help="Keep state of unlisted sources polled within N days (default: the DAG's, 30).")]


def _names(names: list[str]) -> str:
    return ", ".join(names) or "-"


@app.command()
@reports_errors
def health(days: DaysOption = None, as_json: JsonOption = False) -> None:
    """Source-health report: failing and auto-disabled sources first, last success, items per day."""
    from ingest import maintenance

    report = maintenance.source_health(settings(), days=days or maintenance.REPORT_DAYS)
    if as_json:
        console.print_json(json.dumps(report.to_json_dict(), ensure_ascii=False))
        return
    for line in report.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(report.failing)} failing, {len(report.disabled)} disabled, "
                  f"{len(report.sources)} sources")


@app.command()
@reports_errors
def cleanup(retention_days: RetentionOption = None) -> None:
    """Delete the poll state of sources that left the sources file and were not polled recently."""
    from ingest import maintenance

    retention_days = maintenance.STATE_RETENTION_DAYS if retention_days is None else retention_days
    result = maintenance.cleanup_expired_state(settings(), retention_days=retention_days)
    console.print(f"deleted state of {len(result['deleted'])} source(s): {_names(result['deleted'])}")


@app.command()
@reports_errors
def housekeeping() -> None:
    """Re-apply templates, restore lost aliases, report indices behind no alias."""
    from ingest import maintenance

    result = maintenance.housekeeping(settings())
    console.print(f"aliases: {_names(result['aliases'])}")
    console.print(f"restored: {_names(result['restored'])}; orphans: {_names(result['orphans'])}")
