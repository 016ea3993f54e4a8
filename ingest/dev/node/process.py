"""The node's process: spawn it detached, wait until healthy, tell whether it lives, stop its group.

Why through ``/proc`` and process groups: the node is a launcher plus a server JVM in their own
session, possibly of another user (``esnode``); stopping must end both, and a recorded pid must not
be mistaken for an unrelated process that reused it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from ingest.dev.node import runtime
from ingest.dev.node.build import EmbeddedNodeError, tail_text
from ingest.dev.node.host import User

log = logging.getLogger(__name__)

CLUSTER_NAME = "arabic-news-embedded"
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # nodes started by this process, to reap them
_FAILURE_HINTS = [
    ("Address already in use", "the port is taken"),
    ("BindException", "the port is taken"),
    ("FindException", "the Java runtime lacks a module Elasticsearch needs"),
    ("could not find java", "the Java runtime is missing"),
    ("UnsupportedClassVersionError", "the Java runtime is too old"),
    ("Could not reserve enough space", "not enough memory for the heap"),
    ("OutOfMemoryError", "out of memory"),
    ("can not run elasticsearch as root", "Elasticsearch refuses to run as root"),
    ("unknown setting", "elasticsearch.yml has a setting this distribution does not know"),
    ("AccessDeniedException", "a file or folder is not accessible to the node's user"),
    ("failed to obtain node locks", "another node uses the same data folder"),
]


def _proc_state(pid: int) -> str | None:
    """Linux process state letter (R, S, Z, ...), or None when there is no such process."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[0]


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        _CHILDREN.pop(pid, None)


def pid_alive(pid: int) -> bool:
    _reap(pid)
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def runs_from(pid: int, home: Path) -> bool:
    """Guards against pid reuse: the process must be alive and run from the recorded ES home."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(home) in cmdline


def pids_from(home: Path) -> list[int]:
    """Live processes running from ES ``home`` (launcher, CLI and server JVM).

    Why not only the process group: the server JVM does not always share the launcher's group; after
    the launcher is killed it lingers (holding the HTTP port) until it notices its parent is gone.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and runs_from(int(entry.name), home):
            found.append(int(entry.name))
    return found


def kill_leftovers(home: Path, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL, every process still running from ``home`` (a crashed node's remains)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 15.0)):
        pids = pids_from(home)
        if not pids:
            return
        log.warning("sending %s to leftover node processes %s", sig.name, pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pids_from(home):
            time.sleep(0.2)
    if pids_from(home):
        raise EmbeddedNodeError(f"node processes {pids_from(home)} survived SIGKILL")


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process of the group is left."""
    _reap(pgid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def health(url: str, timeout: float = 3.0) -> dict[str, object] | None:
    """The cluster health document, or None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def answers(url: str) -> bool:
    found = health(url)
    return found is not None and found.get("cluster_name") == CLUSTER_NAME


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return tail_text(path.read_text(encoding="utf-8", errors="replace"), lines)
    except OSError:
        return "(no log)"


def _diagnose(log_text: str) -> str:
    for needle, reason in _FAILURE_HINTS:
        if needle in log_text:
            return reason
    return "see the log"


def spawn(home: Path, root: Path, heap: str, java: Path, user: User | None) -> subprocess.Popen[bytes]:
    """Start bin/elasticsearch detached (own session), as ``user`` when given."""
    env = runtime.base_env(java)
    env.update(ES_JAVA_OPTS=f"-Xms{heap} -Xmx{heap}", ES_TMPDIR=str(root / "tmp"), HOME=str(root / "tmp"))
    kwargs: dict[str, object] = {}
    if user is not None:
        kwargs = {"user": user.uid, "group": user.gid, "extra_groups": []}
    with (root / "logs" / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(home / "bin" / "elasticsearch")], env=env, cwd=root / "logs", stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs,  # type: ignore[arg-type]
        )
    _CHILDREN[proc.pid] = proc
    return proc


def wait_healthy(proc: subprocess.Popen[bytes], url: str, stdout_log: Path, timeout: float) -> None:
    """Block until health is yellow/green; on exit or timeout raise with the log tail and a reason."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            terminate_group(proc.pid, 10)  # whatever the launcher left behind
            text = _tail(stdout_log)
            raise EmbeddedNodeError(
                f"Elasticsearch exited with code {code} while starting ({_diagnose(text)}); "
                f"last lines of {stdout_log}:\n{text}"
            )
        found = health(url, timeout=2) or {}
        if found.get("cluster_name") == CLUSTER_NAME and found.get("status") in ("yellow", "green"):
            return
        if time.monotonic() > deadline:
            terminate_group(proc.pid, 30)
            text = _tail(stdout_log)
            raise EmbeddedNodeError(
                f"Elasticsearch did not become healthy within {timeout:.0f}s ({_diagnose(text)}); "
                f"last lines of {stdout_log}:\n{text}"
            )
        time.sleep(0.5)


def terminate_group(pgid: int, timeout: float) -> None:
    """SIGTERM the node's process group, wait, then SIGKILL; raise if it survives."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 15.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            raise EmbeddedNodeError(f"not allowed to signal the node's process group {pgid}") from exc
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.2)
        if sig == signal.SIGTERM:
            log.warning("node (pgid %d) ignored SIGTERM for %.0fs; sending SIGKILL", pgid, timeout)
    raise EmbeddedNodeError(f"the node's process group {pgid} survived SIGKILL")
