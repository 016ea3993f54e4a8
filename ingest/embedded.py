"""Where the embedded Elasticsearch node listens, as the node itself recorded it.

Why in the runtime: with no ``INGEST_ES_URL`` the CLI and the DAGs talk to the embedded node
started by ``ingest es start``; they only need its URL, which the dev stack (``ingest.dev.node``)
writes to ``<cache_dir>/es/node.json`` at start and removes at stop. Reading that one small file
keeps the runtime free of the code that builds and runs the node.
"""

from __future__ import annotations

import json
from pathlib import Path


def record_path(cache_dir: Path) -> Path:
    """``<cache_dir>/es/node.json``: present exactly while a node started from this cache runs."""
    return cache_dir.resolve() / "es" / "node.json"


def read_record(cache_dir: Path) -> dict[str, object] | None:
    """The recorded node (``url``, ``port``, ``pid``, ``home``, ``version``); None if absent or unreadable."""
    try:
        data = json.loads(record_path(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded_url(cache_dir: Path) -> str | None:
    """The URL the embedded node recorded, None when no node is recorded."""
    record = read_record(cache_dir)
    url = record.get("url") if record else None
    return url if isinstance(url, str) and url else None
