"""``ingest serve``: the reading room on loopback (read-only; see ingest.web)."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from ingest.cli.common import console, reports_errors, settings
from ingest.errors import ConfigError


def port_free(host: str, port: int) -> None:
    """Fail before uvicorn starts when the port is taken, naming it (uvicorn's own error is a traceback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"port {port} on {host} is busy ({exc.strerror}); choose another with "
                              f"--port or INGEST_WEB_PORT") from exc


@reports_errors
def serve(port: Annotated[int | None, typer.Option(
        help="Port on 127.0.0.1 (default: INGEST_WEB_PORT).")] = None) -> None:
    """Serve the reading room (top stories, story pages, search, sources, alerts) on 127.0.0.1."""
    import uvicorn

    from ingest.web.app import create_app

    cfg = settings()
    host, chosen = cfg.web.host, cfg.web.port if port is None else port
    port_free(host, chosen)
    console.print(f"reading room: http://{host}:{chosen}/", markup=False, highlight=False)
    uvicorn.run(create_app(cfg), host=host, port=chosen, log_level="warning")
