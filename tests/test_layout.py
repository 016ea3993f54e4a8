"""The runtime package never imports the dev stack (embedded node, loopback server, demo, evaluations).

Why a fresh interpreter: a module imported by another test would hide an import that only the
runtime makes. The runtime modules are every module of ``ingest`` except ``ingest.dev`` and the one
CLI module that exists only to drive it (``ingest demo``); ``ingest es`` and ``ingest eval`` import
the dev stack inside their commands, so their modules are runtime-clean and checked too.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ingest

ROOT = Path(ingest.__file__).resolve().parent.parent
DEV = "ingest.dev"
DEV_FRONT_ENDS = ("ingest.cli.demo",)


def _is_dev(name: str) -> bool:
    return name == DEV or name.startswith(DEV + ".")


def runtime_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(ingest.__path__, "ingest.")]
    return sorted(n for n in names if not _is_dev(n) and n not in DEV_FRONT_ENDS)


def test_the_dev_stack_lives_under_ingest_dev() -> None:
    names = {m.name for m in pkgutil.walk_packages(ingest.__path__, "ingest.")}
    assert {"ingest.dev.node", "ingest.dev.evaluation.simweb", "ingest.dev.evaluation.server",
            "ingest.dev.demo"} <= names
    assert not [n for n in names if n.startswith(("ingest.evaluation", "ingest.demo"))]
    assert (ROOT / "ingest" / "dev" / "data" / "demo" / "site.json").is_file()
    assert not (ROOT / "ingest" / "data" / "demo").exists()
    # The Airflow image installs the runtime only.
    assert "rm -rf ./ingest/dev" in (ROOT / "ingest" / "ops" / "airflow.Dockerfile").read_text()


def test_the_runtime_modules_are_found() -> None:
    found = runtime_modules()
    assert {"ingest.store", "ingest.pipeline", "ingest.embedded", "ingest.alerts.evaluate",
            "ingest.cli", "ingest.cli.es", "ingest.cli.eval", "ingest.cli.run"} <= set(found)
    assert not [n for n in found if _is_dev(n)]


@pytest.mark.slow
def test_no_runtime_module_loads_the_dev_stack() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {runtime_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert [m for m in loaded if _is_dev(m)] == []
