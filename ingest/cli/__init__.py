"""The ``ingest`` command. One module per command group, imported only when that command runs.

Why lazy: importing every group pulls in Elasticsearch, datasketch/scipy and trafilatura (4-6 s);
``ingest --help`` and ``ingest search`` must start at once. ``COMMANDS`` names each command's module,
attribute and one-line help; the help listing shows those lines without importing anything.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer vendors its click; importing the real one would cost a second copy
    from typer._click import Command, Context

# name: (module, attribute: a Typer group or a command function, one-line help for the listing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "alerts": ("ingest.cli.alerts", "app", "Keyword alert rules: list, dry-run, deliver, history."),
    "config": ("ingest.cli.config", "app", "The effective settings and where each came from."),
    "demo": ("ingest.cli.demo", "app", "Serve the bundled demo news site on loopback."),
    "es": ("ingest.cli.es", "app", "Manage the embedded Elasticsearch node and index templates."),
    "eval": ("ingest.cli.eval", "app", "Quality measurements: extraction, crawl, dedup."),
    "kibana": ("ingest.cli.kibana", "app", "Import the Kibana data views, searches and dashboard."),
    "maintenance": ("ingest.cli.maintenance", "app", "Source health, expired state, housekeeping."),
    "run": ("ingest.cli.run", "run", "Run the pipeline (--once: one pass)."),
    "search": ("ingest.cli.search", "search", "Search indexed articles (the alert rules' query syntax)."),
    "serve": ("ingest.cli.serve", "serve", "The reading room: a read-only Arabic web page on loopback."),
    "sources": ("ingest.cli.sources", "app", "List, add, import/export (OPML) and check the sources."),
    "stories": ("ingest.cli.stories", "app", "Stories: what is big right now (top by outlets)."),
    "story": ("ingest.cli.story", "show", "A story (or an article's story) with every dedup decision."),
}


def load_command(name: str) -> Command:
    """Import one command's module and turn it into a click command named ``name``."""
    module, attribute, help_text = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if not isinstance(target, typer.Typer):
        single = typer.Typer()
        single.command(name=name)(target)
        return plain_help(typer.main.get_command(single))
    command = typer.main.get_group(target)  # a group even when it holds one command (``demo serve``)
    command.name, command.help = name, command.help or help_text
    return plain_help(command)


def plain_help(command: Command) -> Command:
    """Click's plain help and error text for ``command`` and its subcommands.

    Why: typer's rich help formatting imports rich, markdown-it and pygments (~0.3 s) for every
    ``--help``; the plain text says the same.
    """
    command.rich_markup_mode = None  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


class LazyGroup(TyperGroup):
    """A group whose subcommands are imported on first use; the help listing imports none of them."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMANDS:
            return command
        if self._listing:  # a placeholder carrying the one-line help, nothing imported
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][2], short_help=COMMANDS[cmd_name][2])
        command = load_command(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, help="Arabic-first news ingestion pipeline.", no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging; thresholds in output.")
         ) -> None:
    """Arabic-first news ingestion pipeline."""
    from ingest.logs import setup_logging

    setup_logging(verbose)
