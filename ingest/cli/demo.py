"""``ingest demo``: serve the bundled demo news site on loopback (offline first run)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.common import console, reports_errors, settings
from ingest.dev import demo

app = typer.Typer(no_args_is_help=True)


@app.command()
@reports_errors
def serve(host: str = typer.Option("127.0.0.1", help="Loopback address to bind."),
          port: int = typer.Option(8765, help="Port (0 = pick a free one)."),
          sources_out: Annotated[Path | None, typer.Option(
              help="Where to write the demo sources file (default: <cache_dir>/demo/sources.yaml).")] = None,
          ) -> None:
    """Serve the demo feeds and pages until interrupted; write a sources file pointing at them."""
    cfg = settings()
    from ingest.dev.paths import CorpusPaths

    site = demo.load_site(CorpusPaths().seeds_dir)
    server = demo.demo_server(site, host=host, port=port)
    path = demo.write_sources(site, server.base_url,
                              sources_out or cfg.files.cache_dir / "demo" / "sources.yaml")
    console.print(f"demo site at {server.base_url}/ ({len(site.articles)} articles, "
                  f"{len(site.outlets)} outlets); sources file: {path}", soft_wrap=True, markup=False)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
