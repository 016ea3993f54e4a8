"""Start, reuse and stop the embedded node; the one "reuse a running node or start one".

Why the port is remembered: the node's URL is written into other places (Airflow's ``news_es``
connection, a shell's INGEST_ES_URL), so a restart comes back on the port it had (``es/http.port``)
unless that port is taken by something else. After a crash (``kill -9``) the port is free again at
once: Elasticsearch binds with SO_REUSEADDR (``network.tcp.reuse_address``, set explicitly below),
and the free-port probe here binds the same way, so sockets left in TIME-WAIT do not block it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest import embedded
from ingest.dev.node import build, host, install, process, runtime
from ingest.dev.node.build import EmbeddedNodeError

log = logging.getLogger(__name__)

NODE_NAME = "embedded"
PORT_FILE = "http.port"
RELEASE_WAIT = 75.0  # seconds; > the kernel's fixed 60 s TIME-WAIT
LISTEN_GRACE = 10.0  # seconds a dead node's listening socket may take to go
_HEAP_RE = re.compile(r"^[1-9][0-9]*[kmgKMG]$")


@dataclass(frozen=True)
class NodeInfo:
    """A running embedded node, as recorded in ``node.json``."""

    url: str
    port: int
    pid: int
    home: Path


def _read_record(cache_dir: Path) -> NodeInfo | None:
    """The node recorded in node.json; None when absent or unreadable (then nothing is known to run)."""
    data = embedded.read_record(cache_dir)
    if data is None:
        return None
    try:
        return NodeInfo(url=str(data["url"]), port=int(data["port"]),  # type: ignore[call-overload]
                        pid=int(data["pid"]), home=Path(str(data["home"])))  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        log.warning("ignoring malformed %s", embedded.record_path(cache_dir))
        return None


def running(cache_dir: Path) -> NodeInfo | None:
    """The embedded node if node.json names a live process of ours whose HTTP answers; else None."""
    record = _read_record(cache_dir)
    if record is None or not process.runs_from(record.pid, record.home) or not process.answers(record.url):
        return None
    return record


def port_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:port now, binding as Elasticsearch does (SO_REUSEADDR):
    a port whose only sockets are in TIME-WAIT is free, one with a listener is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def remembered_port(cache_dir: Path) -> int | None:
    """The HTTP port of this cache's last start, None before the first."""
    try:
        return int((install.es_root(cache_dir) / PORT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _listening(port: int) -> bool:
    """Whether some socket LISTENs on ``port`` (state 0A in /proc/net/tcp{,6})."""
    suffix = f":{port:04X}"
    for name in ("tcp", "tcp6"):
        for row in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(suffix) and fields[3] == "0A":
                return True
    return False


def _await_release(port: int, timeout: float = RELEASE_WAIT, grace: float = LISTEN_GRACE) -> None:
    """Wait for the sockets a crashed node left on ``port`` to close.

    Measured after kill -9 of every node process: the kernel keeps the dead JVM's listening socket
    for a moment (the restart raced it and moved to another port), and server-side sockets in
    TIME-WAIT can keep the port unbindable. Waiting keeps the URL every client has recorded; a port
    someone still listens on after ``grace`` is taken for real, and the node moves.
    """
    log.info("port %d is held by closing sockets of the previous node; waiting up to %.0fs", port, timeout)
    began = time.monotonic()
    while not port_free(port) and time.monotonic() - began < timeout:
        if _listening(port) and time.monotonic() - began > grace:
            return
        time.sleep(0.25)


def _choose_port(cache_dir: Path, requested: int) -> int:
    """``requested`` if non-zero (it must be free), else the remembered port if free, else a free one."""
    if requested:
        if not port_free(requested):
            raise EmbeddedNodeError(f"cannot start Elasticsearch: port {requested} on 127.0.0.1 is taken")
        return requested
    remembered = remembered_port(cache_dir)
    if remembered is not None and not port_free(remembered):
        _await_release(remembered)
    if remembered is not None and port_free(remembered):
        return remembered
    if remembered is not None:
        log.warning("port %d of the last start is taken; the node moves to another port", remembered)
    return _free_port()


def _write_config(home: Path, root: Path, port: int) -> None:
    """elasticsearch.yml for a private loopback node (only settings of modules this distro has)."""
    config = {
        "cluster.name": process.CLUSTER_NAME,
        "node.name": NODE_NAME,
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": port,
        # ES's default on Linux already; explicit because restarting on the same port after a crash
        # depends on it (sockets of the killed node linger in TIME-WAIT).
        "network.tcp.reuse_address": True,
        "path.data": str(root / "data"),
        "path.logs": str(root / "logs"),
        "xpack.security.enabled": False,
        # A dev/CI disk that is 90% full must not turn the test indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    lines = ["# Written by ingest/dev/node/control.py at every start; edits are overwritten."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    path = home / "config" / "elasticsearch.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    folder = path.parent.stat()
    if os.geteuid() == 0:  # the node's user owns its config folder (prepare-host); keep the file theirs
        os.chown(path, folder.st_uid, folder.st_gid)


def _clear_stale_record(cache_dir: Path) -> None:
    """A recorded node that no longer answers: stop what is left of it and forget it."""
    record = _read_record(cache_dir)
    if record is not None and process.runs_from(record.pid, record.home):
        log.warning("the recorded node (pid %d) does not answer at %s; stopping it", record.pid, record.url)
        process.terminate_group(record.pid, 30)
    process.kill_leftovers(install.es_home(cache_dir))  # e.g. the server JVM of a killed launcher
    embedded.record_path(cache_dir).unlink(missing_ok=True)


def _start(cache_dir: Path, port: int, heap: str, timeout: float) -> tuple[NodeInfo, bool]:
    """The running node or a newly started one, and whether it was started here."""
    if not _HEAP_RE.match(heap):
        raise EmbeddedNodeError(f"invalid heap size {heap!r}; use e.g. 512m or 1g")
    root = install.es_root(cache_dir)
    with install.locked(root):
        existing = running(cache_dir)
        if existing is not None:
            if port and port != existing.port:
                log.warning("reusing the node at %s; requested port %d ignored", existing.url, port)
            log.info("reusing the embedded node at %s (pid %d)", existing.url, existing.pid)
            return existing, False
        _clear_stale_record(cache_dir)
        chosen = _choose_port(cache_dir, port)
        home = install.install(cache_dir)
        user = host.run_as(cache_dir)
        java = runtime.java_home()
        url = f"http://127.0.0.1:{chosen}"
        _write_config(home, root, chosen)
        began = time.monotonic()
        log.info("starting Elasticsearch %s on %s (heap %s)", build.es_version(), url, heap)
        proc = process.spawn(home, root, heap, java, user)
        process.wait_healthy(proc, url, root / "logs" / "stdout.log", timeout)
        node = NodeInfo(url=url, port=chosen, pid=proc.pid, home=home)
        record = {**asdict(node), "home": str(home), "version": build.es_version()}
        install.write_json(embedded.record_path(cache_dir), record)
        (root / PORT_FILE).write_text(f"{chosen}\n", encoding="utf-8")
        log.info("Elasticsearch healthy at %s after %.1fs", url, time.monotonic() - began)
        return node, True


def start(cache_dir: Path, port: int = 0, heap: str = "1g", timeout: float = 240) -> NodeInfo:
    """Return the running embedded node, starting it (and installing ES first) when there is none.

    ``port`` 0 keeps the port of the last start (a free one the first time); ``heap`` is the JVM
    heap (-Xms = -Xmx), e.g. ``1g``. As root the host must be prepared first (``host.prepare``).
    """
    return _start(cache_dir, port, heap, timeout)[0]


def stop(cache_dir: Path, timeout: float = 60) -> bool:
    """Stop the recorded node (SIGTERM, then SIGKILL after ``timeout``); True if one was running."""
    with install.locked(install.es_root(cache_dir)):
        record = _read_record(cache_dir)
        was_running = record is not None and process.runs_from(record.pid, record.home)
        if record is not None and was_running:
            log.info("stopping the embedded node (pid %d)", record.pid)
            process.terminate_group(record.pid, timeout)
        embedded.record_path(cache_dir).unlink(missing_ok=True)
        return was_running


@contextlib.contextmanager
def borrowed(cache_dir: Path, port: int = 0, heap: str = "1g") -> Iterator[NodeInfo]:
    """A healthy node for a while (a test session, a benchmark): a running one is reused and left
    running; otherwise one is started and stopped afterwards. Raises when none can be started."""
    node, started = _start(cache_dir, port, heap, timeout=240)
    try:
        yield node
    finally:
        if started:
            stop(cache_dir)


@contextlib.contextmanager
def serving(es_url: str, cache_dir: Path) -> Iterator[str]:
    """URL of a healthy node: ``es_url`` when configured (an external cluster), else the embedded
    node of ``cache_dir`` (``borrowed``). The one "reuse a running node or start one"."""
    if es_url:
        yield es_url
        return
    with borrowed(cache_dir) as node:
        yield node.url
