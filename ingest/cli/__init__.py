"""The ``ingest`` command. One module per command group; each registers itself here."""

from __future__ import annotations

import logging

import typer

from ingest.cli import alerts as alerts_cmd
from ingest.cli import demo as demo_cmd
from ingest.cli import es as es_cmd
from ingest.cli import eval as eval_cmd
from ingest.cli import kibana as kibana_cmd
from ingest.cli import maintenance as maintenance_cmd
from ingest.cli import run as run_cmd
from ingest.cli import search as search_cmd
from ingest.cli import serve as serve_cmd
from ingest.cli import sources as sources_cmd
from ingest.cli import story as story_cmd

app = typer.Typer(help="Arabic-first news ingestion pipeline.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(alerts_cmd.app, name="alerts", help="Keyword alert rules: list, dry-run, deliver, history.")
app.add_typer(es_cmd.app, name="es", help="Manage the embedded Elasticsearch node and index templates.")
app.add_typer(eval_cmd.app, name="eval", help="Quality measurements: extraction, crawl, dedup.")
app.add_typer(kibana_cmd.app, name="kibana", help="Import the Kibana data views, searches and dashboard.")
app.add_typer(demo_cmd.app, name="demo", help="Serve the bundled demo news site on loopback.")
app.add_typer(maintenance_cmd.app, name="maintenance", help="Source health, expired state, housekeeping.")
app.add_typer(sources_cmd.app, name="sources", help="Validate the sources list; check each source's health.")
app.command(name="run")(run_cmd.run)
app.command(name="search")(search_cmd.search)
app.command(name="serve")(serve_cmd.serve)
app.command(name="story")(story_cmd.show)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    """Arabic-first news ingestion pipeline."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # one line per HTTP request drowns the run's own messages
        for noisy in ("elastic_transport", "httpx", "trafilatura", "readability"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
