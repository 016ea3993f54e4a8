"""Optional archiving of raw HTTP responses to WARC files (warcio).

Why: extraction improves over time; with the raw bytes kept in a standard archive format, old
articles can be re-extracted (or replayed in a test) without fetching them again; any WARC tool
reads the files (warcio's ``ArchiveIterator``, pywb, wget's replay).
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Headers describing the wire form; the archived payload is the decoded body.
WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


class WarcArchive:
    """Appends response records to one gzipped WARC file per process and day."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        self.path = directory / f"ingest-{stamp}-{os.getpid()}.warc.gz"
        self._lock = threading.Lock()

    def write_response(self, url: str, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Archive one response (headers as received, body as decoded)."""
        pairs = [(k, v) for k, v in headers.items() if k.lower() not in WIRE_HEADERS]
        pairs.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(f"{status} -", pairs, protocol="HTTP/1.1")
        with self._lock, self.path.open("ab") as stream:
            writer = WARCWriter(stream, gzip=True)
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                               http_headers=http_headers)
            writer.write_record(record)
