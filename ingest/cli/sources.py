"""``ingest sources``: validate the list and check each source's health (polls, never indexes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.text import Text

    from ingest.config import Source
    from ingest.pipeline import PollResult
    from ingest.settings import Settings

from ingest.cli.common import EXIT_OK, EXIT_PARTIAL, JsonOption, console, reports_errors, settings
from ingest.cli.text import echo_json, safe
from ingest.errors import IngestError, StoreUnavailable

app = typer.Typer(no_args_is_help=True)
SourcesOption = Annotated[Path | None, typer.Option(
    "--sources", help="Sources YAML (default: Settings.sources_file).", exists=True, dir_okay=False)]
AllOption = Annotated[bool, typer.Option("--all", help="Also check disabled entries.")]


@app.command("list")
@reports_errors
def list_sources(sources: SourcesOption = None, as_json: JsonOption = False) -> None:
    """Validate the sources file and list its entries."""
    from ingest.config import load_sources

    cfg = settings()
    render_sources(load_sources(sources or cfg.files.sources_file), as_json=as_json)


def render_sources(entries: list[Source], *, as_json: bool) -> None:
    """One line per source (id, kind, country, URL, disabled flag), or one JSON record each."""
    for s in entries:
        if as_json:
            echo_json(s.model_dump(mode="json"))
            continue
        flag = "" if s.enabled else "  (disabled)"
        console.print(f"{s.id:<28} {s.kind:<8} {s.country:<5} {safe(s.url)}{flag}", markup=False,
                      highlight=False, soft_wrap=True)


@app.command()
@reports_errors
def check(sources: SourcesOption = None, all_sources: AllOption = False) -> None:
    """Poll each source without indexing; print HTTP/parse health and the stored state if reachable."""
    from rich.table import Table

    from ingest import pipeline
    from ingest.config import load_sources

    cfg = settings()
    entries = [s for s in load_sources(sources or cfg.files.sources_file) if all_sources or s.enabled]
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


def _health(result: PollResult) -> Text:
    from rich.text import Text

    if result.error:  # whole messages (the table wraps them), escaped, never read as markup
        return Text(f"{result.state.last_status}: {safe(result.error)}", style="red")
    if result.state.last_error:
        return Text(f"malformed: {safe(result.state.last_error)}", style="yellow")
    return Text("ok", style="green")


def _stored_states(cfg: Settings, ids: list[str]) -> dict[str, str]:
    """Health kept in the ``sources`` index; empty when Elasticsearch is unreachable (check still runs)."""
    from ingest import store
    from ingest.sourcestate import load_states

    try:
        return {i: s.health for i, s in load_states(store.connect(cfg), cfg, ids).items()}
    except StoreUnavailable:
        return {}


# --- issue 14: feeds like an RSS reader (add with discovery, OPML import/export) ---
FileOption = Annotated[Path | None, typer.Option(
    "--sources", help="Sources YAML to edit (default: Settings.sources_file).", dir_okay=False)]
IdArgument = Annotated[str, typer.Argument(help="The source id (as in the sources file).")]


@app.command()
@reports_errors
def add(url: Annotated[str, typer.Argument(help="A feed URL, or a homepage whose feeds are discovered.")],
        source_id: Annotated[str | None, typer.Option(
            "--id", help="Source id (default: from the host).")] = None,
        name: Annotated[str | None, typer.Option(help="Outlet name (default: the feed's title).")] = None,
        country: Annotated[str, typer.Option(help="Country code, e.g. LB.")] = "",
        sources: FileOption = None) -> None:
    """Find the feed, check it with one poll, then append it to the sources file (comments kept)."""
    from ingest import pipeline
    from ingest.config import Source, load_sources
    from ingest.sourcesfile import append_source, discover_feeds, source_id_for

    cfg = settings()
    path = sources or cfg.files.sources_file
    try:
        feeds, title = discover_feeds(cfg, url)
    except IngestError as exc:
        console.print(f"not added: {safe(url)} ({exc.reason}: {safe(exc)})", markup=False, highlight=False,
                      soft_wrap=True)
        raise typer.Exit(EXIT_PARTIAL) from exc
    if not feeds:
        console.print(f"no feed found at {safe(url)} (neither a feed nor a page linking one)", markup=False,
                      highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_PARTIAL)
    taken = [s.id for s in load_sources(path)] if path.exists() else []
    source = Source(id=source_id or source_id_for(feeds[0], taken), name=name or title or feeds[0],
                    url=feeds[0], country=country)
    result = pipeline.poll_source(cfg, source, persist=False)
    if result.error:
        console.print(f"not added: {safe(feeds[0])} failed its first poll "
                      f"({result.state.last_status}: {safe(result.error)})", markup=False, highlight=False,
                      soft_wrap=True)
        raise typer.Exit(EXIT_PARTIAL)
    append_source(path, source)
    others = f"; other feeds found: {safe(', '.join(feeds[1:]))}" if feeds[1:] else ""
    console.print(f"added {source.id} ({safe(source.name)}): {safe(source.url)}, {len(result.items)} items "
                  f"in its first poll; written to {path}{others}", markup=False, highlight=False,
                  soft_wrap=True)


@app.command("import-opml")
@reports_errors
def import_opml(opml: Annotated[Path, typer.Argument(help="OPML file (e.g. exported from a feed reader).",
                                                      exists=True, dir_okay=False)],
                sources: FileOption = None) -> None:
    """Append every feed of an OPML file not yet listed (by URL) to the sources file."""
    from ingest.config import load_sources
    from ingest.sourcesfile import append_source, read_opml

    path = sources or settings().files.sources_file
    existing = load_sources(path) if path.exists() else []
    known = {s.url for s in existing}
    found, problems = read_opml(opml, [s.id for s in existing])
    added = [s for s in found if s.url not in known]
    for source in added:
        append_source(path, source)
    for problem in problems:
        console.print(f"skipped {safe(problem)}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(added)} added, {len(found) - len(added)} already listed, {len(problems)} skipped; "
                  f"{path}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_PARTIAL if problems else EXIT_OK)


@app.command("export-opml")
@reports_errors
def export_opml(sources: SourcesOption = None,
                out: Annotated[Path | None, typer.Option(help="Write here, not stdout.")] = None) -> None:
    """The sources file's feeds as OPML 2.0 (for any feed reader)."""
    from ingest.config import load_sources
    from ingest.sourcesfile import write_opml

    data = write_opml(load_sources(sources or settings().files.sources_file))
    if out is None:
        typer.echo(data.decode("utf-8"))
    else:
        out.write_bytes(data)


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
    from ingest import store
    from ingest.sourcestate import load_states, save_state, set_paused

    cfg = settings()
    es = store.connect(cfg)
    store.apply_templates(es, cfg)
    state = set_paused(load_states(es, cfg, [source_id])[source_id], paused)
    save_state(es, cfg, state)
    console.print(f"{source_id}: {state.health}", markup=False, highlight=False)
