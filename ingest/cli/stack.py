"""Helpers `ingest es start` shares with `make run`: keep Airflow's ``news_es`` on the node's URL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ingest.settings import PROJECT_ROOT

STACK = PROJECT_ROOT / "ingest" / "ops" / "stack.sh"


def sync_news_es(cache_dir: Path) -> str | None:
    """If `make run`'s Airflow is running, re-register ``news_es`` when the node's URL changed.

    Returns stack.sh's one-line answer, or None when no Airflow was started (nothing to do).
    """
    run_dir = Path(os.environ.get("STACK_RUN_DIR") or cache_dir / "run")  # where `make run` keeps them
    if not (run_dir / "airflow.pid").is_file():
        return None
    done = subprocess.run(["bash", str(STACK), "es-sync"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "STACK_RUN_DIR": str(run_dir)})
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1] if lines else f"es-sync exited {done.returncode}"
