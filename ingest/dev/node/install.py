"""Install the node into the cache: unpack the distribution, adapt it, install the analysis plugin.

Why a marker file: installing takes a minute (the plugin tool is a JVM), so it runs again only when
the Elasticsearch version, the plugin build or the Java runtime changed.

Cache layout (``cache_dir/es/``)::

    elasticsearch-<version>/   ES home: unpacked distribution, adapted to the runtime, plugin installed
    data/  logs/  tmp/         path.data, path.logs (plus stdout.log of the last start), ES_TMPDIR
    node.json                  the running node: url, port, pid, home (see ingest/embedded.py)
    http.port                  the HTTP port of the last start, kept so the node stays put
    .lock                      serialises install/start/stop between processes
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ingest.dev.node import build, runtime
from ingest.dev.node.build import EmbeddedNodeError

log = logging.getLogger(__name__)

INSTALL_MARKER = ".esnode-installed.json"
WORK_DIRS = ("data", "logs", "tmp")


def es_root(cache_dir: Path) -> Path:
    return cache_dir.resolve() / "es"


def es_home(cache_dir: Path) -> Path:
    return es_root(cache_dir) / f"elasticsearch-{build.es_version()}"


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise install/start/stop between processes sharing a cache dir."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: object) -> None:
    """Write atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _unpack(dist: Path, root: Path, home: Path) -> None:
    """Unzip the distribution into ``home`` atomically, keeping the executable bits."""
    staging = root / f".unpack-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(dist) as archive:
        for item in archive.infolist():
            target = Path(archive.extract(item, staging))
            mode = (item.external_attr >> 16) & 0o777
            if mode and not item.is_dir():
                target.chmod(mode)
    tops = list(staging.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise EmbeddedNodeError(f"{dist} does not hold a single top-level folder")
    shutil.rmtree(home, ignore_errors=True)
    tops[0].rename(home)
    staging.rmdir()


def _install_plugin(home: Path, plugin: Path, java: Path) -> None:
    """(Re)install the analysis plugin with Elasticsearch's own plugin tool."""
    shutil.rmtree(home / "plugins" / build.plugin_name(), ignore_errors=True)
    cmd = [str(home / "bin" / "elasticsearch-plugin"), "install", "--batch", plugin.resolve().as_uri()]
    done = subprocess.run(cmd, env=runtime.base_env(java), capture_output=True, text=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        raise EmbeddedNodeError(
            f"installing the analysis plugin failed (exit {done.returncode}):\n"
            f"{build.tail_text(done.stdout + done.stderr, 30)}"
        )


def install(cache_dir: Path) -> Path:
    """ensure_installed without the lock (callers hold it)."""
    version = build.es_version()
    root, home = es_root(cache_dir), es_home(cache_dir)
    dist, plugin = build.build(version)
    java = runtime.java_home()
    wanted = {
        "es_version": version,
        "plugin_sha256": hashlib.sha256(plugin.read_bytes()).hexdigest(),
        "runtime": runtime.runtime_id(java),
    }
    marker = home / INSTALL_MARKER
    if marker.is_file() and read_json(marker) == wanted:
        return home
    if not (home / "bin" / "elasticsearch").is_file() or not marker.is_file():
        log.info("unpacking %s into %s", dist.name, root)
        _unpack(dist, root, home)
    runtime.adapt_to_runtime(home, java)
    log.info("installing plugin %s", plugin.name)
    _install_plugin(home, plugin, java)
    for sub in WORK_DIRS:
        (root / sub).mkdir(exist_ok=True)
    write_json(marker, wanted)
    return home


def ensure_installed(cache_dir: Path) -> Path:
    """Build (Maven) if needed, unpack ES, adapt it to the runtime, install the plugin; return ES home.

    Idempotent: the second call only compares a marker file with the current build and runtime.
    """
    with locked(es_root(cache_dir)):
        return install(cache_dir)
