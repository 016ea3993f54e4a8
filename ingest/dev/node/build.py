"""The Elasticsearch version and the Maven build of the distribution and the analysis plugin.

Why: the node is Elastic's own integ-test distribution from Maven Central plus a small analysis
plugin built from ``es/`` (both by one ``mvn package``), so a fresh machine needs nothing but the
package registries. The Elasticsearch version lives only in ``es/pom.xml``; ``es_version()`` is the
one place that parses it (tests and the compose checks call it too).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from ingest.errors import IngestError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ES_BUILD_DIR = PROJECT_ROOT / "es"
POM = ES_BUILD_DIR / "pom.xml"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class EmbeddedNodeError(IngestError, RuntimeError):
    """The embedded node could not be built, installed, started or stopped; the message says why."""

    reason = "embedded_node"


def tail_text(text: str, lines: int) -> str:
    """The last ``lines`` lines of a tool's output, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])


def pom_property(name: str) -> str:
    """One ``<properties>`` value of es/pom.xml."""
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
    return pom_property("es.version")


def plugin_name() -> str:
    return pom_property("plugin.name")


def _artifacts(version: str) -> tuple[Path, Path]:
    """Paths of the distribution zip and the plugin zip that ``mvn package`` produces."""
    target = ES_BUILD_DIR / "target"
    return target / "dist" / f"elasticsearch-{version}.zip", target / f"{plugin_name()}-{version}.zip"


def _newest_source_mtime() -> float:
    """Latest modification time among the inputs of the Maven build."""
    paths = [POM, *(p for p in (ES_BUILD_DIR / "src").rglob("*") if p.is_file())]
    return max(p.stat().st_mtime for p in paths)


def build(version: str) -> tuple[Path, Path]:
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
        tail = tail_text(done.stdout + done.stderr, 40)
        raise EmbeddedNodeError(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{tail}")
    return dist, plugin
