"""Progress bars: drawn on a terminal only; piped output and ``--json`` never carry one.

From the outside: a subprocess whose stdout is a pseudo-terminal (the bar must show, so the check
can fail) or a pipe (nothing but the command's own lines)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

SNIPPET = """
import time
from ingest.cli.common import console, tracked
for n in tracked(list(range(4)), "counting sheep", enabled={enabled}):
    time.sleep(0.3)
console.print("done", markup=False)
"""
ESC = b"\x1b"


def run(enabled: bool, *, tty: bool) -> bytes:
    code = SNIPPET.format(enabled=enabled)
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    if not tty:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=120).stdout
    leader, follower = pty.openpty()
    done = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    done.wait(timeout=120)
    os.close(leader)
    return out


@pytest.mark.slow
def test_the_bar_shows_on_a_terminal() -> None:
    out = run(True, tty=True)
    assert b"counting sheep" in out and ESC in out and b"done" in out


@pytest.mark.slow
def test_piped_output_and_json_mode_carry_no_bar() -> None:
    assert run(True, tty=False) == b"done\n"  # a pipe: only the command's own line
    off = run(False, tty=True)  # --json passes enabled=False: not even a terminal gets a bar
    assert b"counting sheep" not in off and b"done" in off


@pytest.mark.slow
def test_an_eval_piped_prints_its_report_lines_only() -> None:
    ingest = os.path.join(os.path.dirname(sys.executable), "ingest")
    piped = subprocess.run([ingest, "eval", "extraction", "--limit", "2"], capture_output=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert ESC not in piped.stdout and ESC not in piped.stderr
    assert piped.stdout.decode().startswith("extraction benchmark: 2 pages")
