"""``ingest config show``: the effective settings (secrets masked) and where each came from."""

from __future__ import annotations

import os

import typer

from ingest.cli.common import JsonOption, console, reports_errors, settings
from ingest.cli.text import echo_json, safe

app = typer.Typer(no_args_is_help=True)


@app.callback()
def config() -> None:
    """The effective settings."""


@app.command()
@reports_errors
def show(as_json: JsonOption = False) -> None:
    """Each setting, its value and its source: environment, the run profile `make run` wrote, or default."""
    from ingest.profile import origins, profile_path

    profile = profile_path(os.environ)
    rows = origins(settings(), os.environ, profile)
    if as_json:
        for row in rows:
            echo_json({"field": row.field, "env": row.env, "value": row.value, "source": row.source})
        return
    console.print(f"profile: {profile or 'none (make run writes .cache/run/profile.env)'}", markup=False,
                  highlight=False, soft_wrap=True)
    width, env_width = max(len(r.field) for r in rows), max(len(r.env) for r in rows)
    for row in rows:
        console.print(f"{row.field:<{width}}  {row.env:<{env_width}}  {safe(row.value)}  [{row.source}]",
                      markup=False, highlight=False, soft_wrap=True)
