"""Instant CLI: `--help` imports neither Elasticsearch, HTTP clients, settings, rich nor the pipeline."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from typer.testing import CliRunner
from ingest.cli import app
for args in ({args}):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
names = ("elasticsearch", "elastic_transport", "httpx", "requests", "datasketch", "trafilatura",
         "ingest.pipeline", "pydantic_settings", "rich", "click")
heavy = sorted(m for m in names if m in sys.modules)
print(",".join(heavy) or "none")
"""


def loaded_after(*argsets: tuple[str, ...]) -> str:
    done = subprocess.run([sys.executable, "-c", CHECK.format(args=", ".join(map(repr, argsets)) + ",")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_help_listing_and_search_help_import_nothing_heavy() -> None:
    assert loaded_after(("--help",), ("search", "--help"), ("stories", "top", "--help")) == "none"


def test_every_commands_help_imports_no_client_settings_or_rich() -> None:
    from ingest.cli import COMMANDS

    assert loaded_after(*((name, "--help") for name in COMMANDS if name not in ("run", "eval"))) == "none"


def test_running_a_command_imports_what_it_needs() -> None:  # the checks above can fail: they see imports
    assert loaded_after(("config", "show"),) == "pydantic_settings,rich"
