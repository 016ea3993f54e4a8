"""`ingest run --once` through the CLI against a loopback site, returning what was indexed.

Shared by the end-to-end tests of the date stage and of the extractor registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from ingest.cli import app
from ingest.settings import Settings


def run_once_and_read(sources_yaml: str, tmp_path: Path, cfg: Settings,
                      es: Elasticsearch) -> list[dict[str, Any]]:
    """Write the sources file, run `ingest run --once` (exit code 0 asserted), return the indexed docs."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(sources_yaml, encoding="utf-8")
    env = {"INGEST_ES_URL": cfg.es.url, "INGEST_INDEX_PREFIX": cfg.es.index_prefix,
           "INGEST_ALLOWED_NETWORKS": '["127.0.0.1/32"]', "INGEST_PER_HOST_DELAY": "0"}
    result = CliRunner().invoke(app, ["run", "--once", "--sources", str(sources)], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    hits = es.search(index=f"{cfg.es.index_prefix}-articles", query={"match_all": {}})["hits"]["hits"]
    return [hit["_source"] for hit in hits]
