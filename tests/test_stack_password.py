"""`make run`'s Airflow admin password: made by ingest/ops/stack.sh before Airflow starts, so
Airflow never generates one (it prints those into its log, .cache/run/airflow.log)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli.stack import STACK

PWFILE = "simple_auth_manager_passwords.json.generated"
AIRFLOW_INIT = (
    "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager\n"
    "SimpleAuthManager().init()\n"
)

pytestmark = pytest.mark.slow


def _airflow_init(home: Path) -> str:
    """What Airflow's own simple auth manager prints when it starts with ``home``."""
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([sys.executable, "-c", AIRFLOW_INIT], env=env, capture_output=True, text=True,
                          timeout=180, check=True)
    return done.stdout + done.stderr


def test_airflow_logs_no_password_of_the_stack(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    env = {**os.environ, "STACK_AIRFLOW_HOME": str(home), "STACK_RUN_DIR": str(tmp_path / "run")}
    subprocess.run(["bash", str(STACK), "admin-password"], env=env, check=True, timeout=60)
    pwfile = home / PWFILE
    password = json.loads(pwfile.read_text())["admin"]
    assert len(password) >= 12
    assert pwfile.stat().st_mode & 0o777 == 0o600
    subprocess.run(["bash", str(STACK), "admin-password"], env=env, check=True, timeout=60)
    assert json.loads(pwfile.read_text())["admin"] == password  # kept, not made again

    printed = _airflow_init(home)
    assert password not in printed and "Password for user" not in printed
    assert json.loads(pwfile.read_text()) == {"admin": password}


def test_airflow_alone_would_log_the_password_it_makes(tmp_path: Path) -> None:
    """The control: without the stack's file, Airflow generates a password and prints it."""
    printed = _airflow_init(tmp_path)
    password = json.loads((tmp_path / PWFILE).read_text())["admin"]
    assert f"Password for user 'admin': {password}" in printed
