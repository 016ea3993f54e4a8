"""What every command group shares: settings at the edge, exit codes, error reporting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from ingest.errors import ConfigError, IngestError, StoreUnavailable
from ingest.settings import Settings, load_settings

console = Console()
log = logging.getLogger("ingest.cli")

# Exit codes: 0 all good; 1 the run finished but some items failed; 2 bad configuration or usage;
# 3 Elasticsearch unreachable; 4 any other error.
EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_ERROR = 0, 1, 2, 3, 4

P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    """Settings for a command (environment + defaults); errors become exit code 2."""
    try:
        return load_settings()
    except ValueError as exc:
        console.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from exc


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn our exceptions into one clear line and a meaningful exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            console.print(f"[red]configuration error:[/red] {exc}")
            raise typer.Exit(EXIT_CONFIG) from exc
        except StoreUnavailable as exc:
            console.print(f"[red]Elasticsearch unavailable:[/red] {exc}")
            raise typer.Exit(EXIT_UNAVAILABLE) from exc
        except IngestError as exc:
            console.print(f"[red]error ({exc.reason}):[/red] {exc}")
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper
