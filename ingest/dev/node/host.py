"""Preparing the host for the node: the ``esnode`` system user, ownership and permissions.

Why an explicit step (``ingest es prepare-host``, run by ``make run`` and ``make test``): Elasticsearch
refuses to run as root, so as root the node runs as the system user ``esnode``, which must own the
node's folders, reach them (o+x up the tree) and read the Java runtime inside site-packages. Those
are changes to the machine; ``start()`` only checks them and says which step is missing. Run as an
ordinary user, the node runs as that user and there is nothing to prepare.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ingest.dev.node import install, runtime
from ingest.dev.node.build import EmbeddedNodeError

log = logging.getLogger(__name__)

SERVICE_USER = "esnode"
PREPARE_HINT = "run `ingest es prepare-host` (make run and make test do) to prepare it"


@dataclass(frozen=True)
class User:
    uid: int
    gid: int


def _lookup() -> User | None:
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return User(entry.pw_uid, entry.pw_gid)


def _owned_trees(cache_dir: Path) -> list[Path]:
    """What the service user must own: ES home and the node's data, logs and tmp folders."""
    root = install.es_root(cache_dir)
    return [install.es_home(cache_dir), *(root / sub for sub in install.WORK_DIRS)]


def _unreachable(paths: list[Path]) -> list[Path]:
    """Folders on the way to ``paths`` that others cannot traverse (no o+x)."""
    seen: list[Path] = []
    for path in paths:
        for folder in [path, *path.parents]:
            if folder not in seen and not folder.stat().st_mode & stat.S_IXOTH:
                seen.append(folder)
    return seen


def _unreadable(java: Path) -> list[str]:
    """Entries of the Java runtime others cannot read (or, for folders and programs, run)."""
    out = []
    for dirpath, _dirnames, filenames in os.walk(java):
        for entry in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            mode = os.lstat(entry).st_mode
            if not stat.S_ISLNK(mode) and mode & _needed(mode) != _needed(mode):
                out.append(entry)
    return out


def _needed(mode: int) -> int:
    return stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)


def problems(cache_dir: Path) -> list[str]:
    """What keeps the node from starting as the service user; empty when not root or all is ready."""
    if os.geteuid() != 0:
        return []
    user = _lookup()
    if user is None:
        return [f"system user {SERVICE_USER!r} does not exist"]
    found = []
    marker = install.es_home(cache_dir) / install.INSTALL_MARKER
    for path in [*_owned_trees(cache_dir), marker]:
        info = path.stat() if path.exists() else None
        if info is None or (info.st_uid, info.st_gid) != (user.uid, user.gid):
            found.append(f"{path} is not owned by {SERVICE_USER}")
    found += [f"{SERVICE_USER} cannot traverse {p} (no o+x)" for p in _unreachable(_owned_trees(cache_dir))]
    java = runtime.java_home()
    unreadable = _unreadable(java)
    if unreadable:
        found.append(f"{SERVICE_USER} cannot read {len(unreadable)} files of the Java runtime {java}")
    return found


def run_as(cache_dir: Path) -> User | None:
    """The user to run the node as (None: ourselves); raises naming the missing preparation."""
    found = problems(cache_dir)
    if found:
        raise EmbeddedNodeError(
            "Elasticsearch refuses to run as root and the host is not prepared for its user: "
            + "; ".join(found) + f"; {PREPARE_HINT}"
        )
    return _lookup() if os.geteuid() == 0 else None


def _create_user() -> User:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    cmd = [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
           SERVICE_USER]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    user = _lookup()
    if user is None:
        raise EmbeddedNodeError(f"creating the system user {SERVICE_USER!r} failed: "
                                f"{done.stderr.strip() or done.returncode}")
    return user


def _chown_tree(path: Path, user: User) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, user.uid, user.gid)
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), user.uid, user.gid)


def prepare(cache_dir: Path) -> list[str]:
    """Install the node if needed and, as root, make the host ready for its user; return what changed.

    Idempotent: a second call changes nothing and returns an empty list.
    """
    install.ensure_installed(cache_dir)
    if os.geteuid() != 0:
        return []
    done = []
    user = _lookup()
    if user is None:
        user = _create_user()
        done.append(f"created system user {SERVICE_USER}")
    if [p for p in problems(cache_dir) if "owned" in p]:
        for tree in _owned_trees(cache_dir):
            _chown_tree(tree, user)
        done.append(f"gave {', '.join(str(t) for t in _owned_trees(cache_dir))} to {SERVICE_USER}")
    for folder in _unreachable(_owned_trees(cache_dir)):
        folder.chmod(stat.S_IMODE(folder.stat().st_mode) | stat.S_IXOTH)
        done.append(f"granted o+x on {folder}")
    java = runtime.java_home()
    unreadable = _unreadable(java)
    for entry in unreadable:
        mode = os.lstat(entry).st_mode
        os.chmod(entry, stat.S_IMODE(mode) | _needed(mode))
    if unreadable:
        done.append(f"granted o+rX on {len(unreadable)} files of the Java runtime {java}")
    for line in done:
        log.info("prepare-host: %s", line)
    return done
