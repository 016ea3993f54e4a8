"""The runtime package never imports the dev stack (embedded node, loopback server, demo, evaluations).

Why a fresh interpreter: a module imported by another test would hide an import that only the
runtime makes. The runtime modules are every module of ``ingest`` except the dev stack and the CLI
modules that exist to drive it (listed below, by exclusion).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import ingest

DEV = ("ingest.dev", "ingest.evaluation", "ingest.demo")
# The CLI is left out for now: ingest/cli/__init__.py registers `ingest demo` / `ingest eval` eagerly,
# so importing any command module loads ingest.demo. Once those registrations import lazily, replace
# this with the two front ends of dev tools: ("ingest.cli.eval", "ingest.cli.demo").
DEV_FRONT_ENDS = ("ingest.cli",)


def _is_dev(name: str) -> bool:
    return any(name == d or name.startswith(d + ".") for d in DEV)


def runtime_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(ingest.__path__, "ingest.")]
    return sorted(n for n in names if not _is_dev(n) and not n.startswith(DEV_FRONT_ENDS))


def test_the_runtime_modules_are_found() -> None:
    found = runtime_modules()
    assert {"ingest.store", "ingest.pipeline", "ingest.embedded", "ingest.alerts.evaluate"} \
        <= set(found)
    assert not [n for n in found if _is_dev(n)]


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
