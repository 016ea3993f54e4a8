"""A throwaway Airflow for the DAG tests: AIRFLOW_HOME in a temp dir, SQLite, this repo's dags/.

Why a module imported by the test files before ``airflow``: Airflow reads its configuration when
first imported, so the environment must be in place by then. ``migrate()`` creates the metadata
database once per session (``airflow db migrate`` in a subprocess with the same environment).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAGS_DIR = ROOT / "dags"
HOME = Path(tempfile.mkdtemp(prefix="airflow-test-"))
atexit.register(shutil.rmtree, HOME, ignore_errors=True)

os.environ.update({
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": (
        '[{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",'
        f' "kwargs": {{"path": "{DAGS_DIR}"}}}}]'),
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
})


def airflow(*args: str) -> None:
    """Run the ``airflow`` CLI with this environment; fail with its output."""
    cli = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(cli), *args], capture_output=True, text=True, env=os.environ, timeout=600,
                          check=False)
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{output}"


@cache
def migrate() -> Path:
    """Create the metadata database and the fetch pool (once); returns AIRFLOW_HOME."""
    airflow("db", "migrate")
    airflow("pools", "set", "news_fetch", "4", "bounds concurrent article fetching")
    return HOME
