"""What every command group shares: settings at the edge, exit codes, error reporting."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from ingest.errors import ConfigError, IngestError, StoreUnavailable

if TYPE_CHECKING:
    from rich.console import Console

    from ingest.settings import Settings

log = logging.getLogger("ingest.cli")


class LazyConsole:
    """The CLI's one rich Console, built on first print.

    Why: importing rich costs ~0.1 s, settings (pydantic-settings) more; ``--help`` needs neither.
    """

    _console: Console | None = None

    def get(self) -> Console:
        """The rich Console itself (for rich APIs that take one: progress bars, live displays)."""
        if LazyConsole._console is None:
            from rich.console import Console

            LazyConsole._console = Console()
        return LazyConsole._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = LazyConsole()

# Exit codes: 0 all good; 1 the run finished but some items failed; 2 bad configuration or usage;
# 3 Elasticsearch unreachable; 4 any other error.
EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_ERROR = 0, 1, 2, 3, 4

JsonOption = Annotated[bool, typer.Option(
    "--json", help="JSON lines on stdout, one record per line (field names: see the README).")]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def settings() -> Settings:
    """Settings for a command (environment > run profile > defaults); errors become exit code 2."""
    import os

    from ingest.profile import profile_path
    from ingest.settings import load_settings

    try:
        return load_settings(_env_file=profile_path(os.environ))
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
            fail("configuration error", exc)
            raise typer.Exit(EXIT_CONFIG) from exc
        except StoreUnavailable as exc:
            fail("Elasticsearch unavailable", exc)
            raise typer.Exit(EXIT_UNAVAILABLE) from exc
        except IngestError as exc:
            fail(f"error ({exc.reason})", exc)
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper


def fail(label: str, exc: BaseException) -> None:
    """One whole line (never wrapped or cut, no markup read from the message, controls escaped)."""
    from rich.text import Text

    from ingest.cli.text import safe

    console.print(Text.assemble((f"{label}: ", "red"), safe(" ".join(str(exc).split()))), soft_wrap=True,
                  highlight=False)


@contextmanager
def progress(description: str, *, total: int | None = None, enabled: bool = True
             ) -> Iterator[Callable[..., None]]:
    """A transient rich progress bar (a spinner when ``total`` is None) for work over a few seconds.

    Yields ``update(description=None, advance=0)``. Drawn only on a terminal and when ``enabled``
    (callers pass ``not as_json``): piped or JSON output never carries a bar or its control codes.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    real = console.get()
    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    if total is not None:
        columns[2:2] = [BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, console=real, transient=True, disable=not (enabled and real.is_terminal)) as bar:
        task = bar.add_task(description, total=total)

        def update(message: str | None = None, advance: float = 0) -> None:
            bar.update(task, description=message or description, advance=advance)

        yield update


def tracked(items: Sequence[T], description: str, *, enabled: bool = True) -> Iterator[T]:
    """``items`` one by one, advancing a progress bar (see ``progress``)."""
    with progress(description, total=len(items), enabled=enabled) as update:
        for item in items:
            yield item
            update(advance=1)
