"""One pass of the pipeline at a simulated time, as a separate process the kill test can SIGKILL.

``python tests/week_runner.py SOURCES_YAML NOW_ISO [START_AT]``; START_AT (epoch seconds) makes
two runners start their pass together. Settings come from the ``INGEST_*``
environment like the CLI's (``ingest run --once`` has no clock option: time is real there).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

from ingest import pipeline
from ingest.config import load_sources
from ingest.settings import load_settings


def main(argv: list[str]) -> int:
    settings = load_settings()
    if len(argv) > 2:
        time.sleep(max(0.0, float(argv[2]) - time.time()))
    summary = pipeline.run_once(settings, load_sources(argv[0]), now=datetime.fromisoformat(argv[1]))
    for line in summary.lines():
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
