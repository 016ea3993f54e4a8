"""``ingest kibana``: install the project's data views, saved searches and dashboard into Kibana."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.common import EXIT_CONFIG, console, reports_errors, settings

app = typer.Typer(no_args_is_help=True)


@app.command("import")
@reports_errors
def import_objects(
    url: str = typer.Option(..., envvar="INGEST_KIBANA_URL", help="Kibana base URL, e.g. http://kibana:5601."),
    api_key: str | None = typer.Option(None, envvar="INGEST_KIBANA_API_KEY", show_default=False,
                                       help="Encoded API key (prefer the environment variable)."),
    user: str | None = typer.Option(None, envvar="INGEST_KIBANA_USER", help="User for basic auth."),
    password: str | None = typer.Option(None, envvar="INGEST_KIBANA_PASSWORD", show_default=False,
                                        help="Password for --user (prompted for when missing)."),
    space: str | None = typer.Option(None, help="Kibana space id (default space when omitted)."),
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Saved objects folder (default: the project's kibana/).")] = None,
    ca_certs: Annotated[Path | None, typer.Option(help="CA bundle for an https Kibana.")] = None,
) -> None:
    """Import every saved object with overwrite=true (idempotent); data views follow INGEST_INDEX_PREFIX."""
    from pydantic import SecretStr

    from ingest import kibana

    if api_key and user:
        console.print("[red]give either --api-key or --user, not both[/red]")
        raise typer.Exit(EXIT_CONFIG)
    if user and password is None:
        password = typer.prompt(f"Kibana password for {user}", hide_input=True)
    auth = kibana.KibanaAuth(api_key=SecretStr(api_key) if api_key else None, username=user,
                             password=SecretStr(password) if password is not None else None)
    prefix = settings().es.index_prefix
    objects = kibana.retarget(kibana.load_objects(directory or kibana.OBJECTS_DIR), prefix)
    result = kibana.import_objects(url, objects, auth, space=space,
                                   verify=str(ca_certs) if ca_certs else True)
    console.print(f"imported {result.success_count} saved objects into {kibana.redact_url(url)}")
