"""The one Elasticsearch access layer: client, index templates, aliases.

Why one module: every stage talks to Elasticsearch the same way (same timeouts, retries, auth,
same index names), errors are translated to ``ingest.errors`` here, and credentials are handled
in exactly one place so they are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import elastic_transport
from elasticsearch import ApiError, ConflictError, Elasticsearch, helpers

from ingest import embedded
from ingest.errors import ConfigError, StoreConflict, StoreError, StoreUnavailable
from ingest.settings import Settings

log = logging.getLogger(__name__)

ANALYSIS_FILE = "_analysis.json"
# Answers meaning "the node cannot serve now" (overloaded, restarting, behind a proxy that lost it).
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


@contextmanager
def translated(what: str) -> Iterator[None]:
    """The one Elasticsearch error boundary: client errors -> ``ingest.errors``, naming ``what``.

    Why here: "node unreachable" must be ``StoreUnavailable`` (exit 3, Airflow retries) whichever
    caller hit it. Callers that expect a conflict or a 404 catch it inside the block, where it
    happens; one that escapes becomes ``StoreConflict``. The message never holds credentials.
    """
    try:
        yield
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"{what}: Elasticsearch unreachable ({type(exc).__name__})") from exc
    except ConflictError as exc:
        raise StoreConflict(f"{what}: version conflict ({exc.message})") from exc
    except ApiError as exc:
        if exc.meta.status in UNAVAILABLE_STATUSES:
            raise StoreUnavailable(f"{what}: Elasticsearch answered {exc.meta.status} "
                                   f"({exc.message})") from exc
        raise StoreError(f"{what}: {exc.message}") from exc
    except elastic_transport.TransportError as exc:
        raise StoreUnavailable(f"{what}: transport error ({type(exc).__name__})") from exc


def redact_url(url: str) -> str:
    """Drop any user:password@ part so a URL can be printed safely."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def resolve_url(settings: Settings) -> str:
    """The configured URL, else the one the embedded node recorded (``ingest es start``)."""
    if settings.es.url:
        return settings.es.url
    url = embedded.recorded_url(settings.files.cache_dir)
    if url is None:
        raise StoreUnavailable(
            "no Elasticsearch URL configured (INGEST_ES_URL) and no embedded node running; "
            "start one with `ingest es start`"
        )
    return url


def connect(settings: Settings, *, check: bool = True) -> Elasticsearch:
    """Build a client from settings; with ``check``, fail now (naming the URL) if unreachable."""
    url = resolve_url(settings)
    kwargs: dict[str, object] = {
        "request_timeout": settings.es.request_timeout,
        "max_retries": settings.es.max_retries,
        "retry_on_timeout": True,
    }
    if settings.es.api_key is not None:
        kwargs["api_key"] = settings.es.api_key.get_secret_value()
    elif settings.es.username and settings.es.password is not None:
        kwargs["basic_auth"] = (settings.es.username, settings.es.password.get_secret_value())
    if url.startswith("https"):
        kwargs["verify_certs"] = settings.es.verify_certs
        if settings.es.ca_certs is not None:
            kwargs["ca_certs"] = str(settings.es.ca_certs)
    es = Elasticsearch(url, **kwargs)  # type: ignore[arg-type]
    if check:
        health(es, url)
    return es


def health(es: Elasticsearch, url: str = "") -> str:
    """Cluster health status; raises ``StoreUnavailable`` naming the (redacted) URL."""
    try:
        return str(es.cluster.health(timeout="10s")["status"])
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"Elasticsearch at {redact_url(url) or 'the configured URL'} is unreachable: "
                               f"{type(exc).__name__}") from exc
    except ApiError as exc:
        busy = exc.meta.status in UNAVAILABLE_STATUSES  # overloaded or restarting: a retry may succeed
        raise (StoreUnavailable if busy else StoreError)(
            f"Elasticsearch at {redact_url(url)} {'is busy' if busy else 'refused the health check'}: "
            f"{exc.message} ({exc.meta.status})") from exc


@dataclass(frozen=True)
class IndexSpec:
    """One kind of index (``articles``, ``sources`` ...) as defined by ``mappings/<kind>.json``."""

    kind: str
    version: int
    body: dict

    def alias(self, prefix: str) -> str:
        return f"{prefix}-{self.kind}"

    def index(self, prefix: str) -> str:
        return f"{prefix}-{self.kind}-v{self.version}"


def alias_name(prefix: str, kind: str) -> str:
    """The name stages read and write through; the concrete index behind it can change."""
    return f"{prefix}-{kind}"


def load_specs(mappings_dir: Path) -> Iterator[IndexSpec]:
    """Every index kind defined in ``mappings/`` (files starting with ``_`` are shared parts)."""
    for path in sorted(mappings_dir.glob("*.json")):
        if path.name.startswith("_"):
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        yield IndexSpec(kind=path.stem, version=int(doc["version"]), body=doc)


def apply_templates(es: Elasticsearch, settings: Settings) -> list[str]:
    """Idempotently install templates and create each versioned index behind its alias.

    Returns the aliases. An alias that already points at an older version is left alone:
    moving to a new mapping is an explicit ``migrate`` (client-side reindex + alias swap).
    A template whose stored content hash (``_meta.hash``) matches is not written again: each
    write is a cluster-state update, and every new worker process applies the templates.
    """
    prefix = settings.es.index_prefix
    analysis = json.loads((settings.files.mappings_dir / ANALYSIS_FILE).read_text(encoding="utf-8"))
    shards = {"number_of_shards": settings.es.shards, "number_of_replicas": settings.es.replicas}
    aliases = []
    try:
        installed = template_hashes(es, prefix)
        component = {"template": analysis["template"]}
        if installed.get(f"{prefix}-analysis") != (digest := _content_hash(component)):
            es.cluster.put_component_template(name=f"{prefix}-analysis", meta={"hash": digest}, **component)
        for spec in load_specs(settings.files.mappings_dir):
            body = {"index_patterns": [f"{prefix}-{spec.kind}-v*"], "composed_of": [f"{prefix}-analysis"],
                    "template": {"settings": {"index": shards}, "mappings": spec.body["mappings"]},
                    "version": spec.version, "priority": 200}
            meta = {"description": spec.body.get("description", ""), "managed_by": "ingest"}
            if installed.get(f"{prefix}-{spec.kind}") != (digest := _content_hash([body, meta])):
                es.indices.put_index_template(name=f"{prefix}-{spec.kind}", meta={**meta, "hash": digest},
                                              **body)
            ensure_alias(es, spec, prefix)
            aliases.append(spec.alias(prefix))
    except ApiError as exc:
        raise StoreError(f"applying index templates failed: {exc.message}: {exc.info}") from exc
    return aliases


def _content_hash(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def template_hashes(es: Elasticsearch, prefix: str) -> dict[str, str]:
    """``_meta.hash`` of the prefix's installed index and component templates, by name."""
    quiet = es.options(ignore_status=404)
    found = {t["name"]: t["index_template"].get("_meta", {}).get("hash", "")
             for t in quiet.indices.get_index_template(name=f"{prefix}-*").get("index_templates", [])
             if owned(prefix, t["name"])}
    for t in quiet.cluster.get_component_template(name=f"{prefix}-analysis").get("component_templates", []):
        found[t["name"]] = t["component_template"].get("_meta", {}).get("hash", "")
    return found


def ensure_alias(es: Elasticsearch, spec: IndexSpec, prefix: str) -> None:
    """Create the versioned index with its alias unless the alias already exists."""
    alias = spec.alias(prefix)
    if es.indices.exists_alias(name=alias):
        current = sorted(es.indices.get_alias(name=alias))
        if spec.index(prefix) not in current:
            log.warning("alias %s points at %s, mappings/ has v%d: run `ingest es migrate %s`",
                        alias, current, spec.version, spec.kind)
        return
    try:
        es.indices.create(index=spec.index(prefix), aliases={alias: {"is_write_index": True}})
    except ApiError as exc:
        if exc.meta.status != 400 or "resource_already_exists" not in str(exc.error):
            raise
        # Created by another worker, or the alias was lost: (re)attaching it is idempotent.
        es.indices.put_alias(index=spec.index(prefix), name=alias, is_write_index=True)


def owned(prefix: str, name: str) -> bool:
    """Whether an index or template name is one of ``prefix``'s (``<prefix>-<kind>[-v<N>]``), not
    one of a longer prefix that starts the same (``news`` must not reach ``news-eval-articles-v1``)."""
    return re.fullmatch(rf"{re.escape(prefix)}-[a-z0-9_]+(-v\d+)?", name) is not None


def drop_prefix(es: Elasticsearch, prefix: str) -> list[str]:
    """Delete every index and template of one prefix (tests, benchmarks, evaluations).

    Indices are deleted by name: wildcard deletes are refused by default
    (``action.destructive_requires_name``).
    """
    names = sorted(n for n in es.indices.get(index=f"{prefix}-*", expand_wildcards="all") if owned(prefix, n))
    if names:
        es.indices.delete(index=",".join(names))
    for name in template_hashes(es, prefix):
        if name != f"{prefix}-analysis":
            es.indices.delete_index_template(name=name)
    es.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}-analysis")
    return names


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` did: the indices the alias left, the one it points at now, documents copied."""

    alias: str
    sources: tuple[str, ...]
    target: str
    copied: int
    caught_up: int

    def to_json_dict(self) -> dict:
        return asdict(self)


def migrate(es: Elasticsearch, settings: Settings, kind: str) -> Migration:
    """Move the alias ``<prefix>-<kind>`` onto the mapping version now in ``mappings/``, reads never stop.

    Client-side, because the embedded node has no ``_reindex``: create the new versioned index from
    the (re-applied) template, copy every document (scan + bulk), swap the alias in one atomic
    ``_aliases`` call, then copy what was created in the old index meanwhile (``op_type=create``, so
    nothing newer is overwritten). The old index is kept for rollback; deleting it is a human decision.
    A copy that fails (e.g. the new mapping rejects old documents) leaves the alias where it was.
    """
    specs = {s.kind: s for s in load_specs(settings.files.mappings_dir)}
    if kind not in specs:
        raise ConfigError(f"no mappings/{kind}.json (known kinds: {', '.join(sorted(specs))})")
    alias, target = specs[kind].alias(settings.es.index_prefix), specs[kind].index(settings.es.index_prefix)
    apply_templates(es, settings)  # newest templates; creates index + alias for a brand-new kind
    try:
        sources = tuple(sorted(i for i in es.indices.get_alias(name=alias) if i != target))
        if not sources:
            return Migration(alias, (), target, 0, 0)
        if not es.indices.exists(index=target):
            es.indices.create(index=target)
        copied = copy_documents(es, sources, target)
        swap = [{"remove": {"index": i, "alias": alias}} for i in sources]
        swap.append({"add": {"index": target, "alias": alias, "is_write_index": True}})
        es.indices.update_aliases(actions=swap)  # one atomic call: readers see old or new, never none
        caught_up = copy_documents(es, sources, target, only_missing=True)
    except ApiError as exc:
        raise StoreError(f"migrating {alias} to {target} failed: {exc.message}") from exc
    log.info("alias %s moved from %s to %s: %d documents copied, %d caught up",
             alias, ", ".join(sources), target, copied, caught_up)
    return Migration(alias, sources, target, copied, caught_up)


def copy_documents(es: Elasticsearch, sources: tuple[str, ...], target: str, *,
                   only_missing: bool = False) -> int:
    """Scan ``sources`` and bulk-write into ``target`` with the same ids; ``only_missing`` skips ids
    the target already has. Returns how many were written; any other per-document error raises.

    Why scan + bulk and not ``helpers.reindex``: that helper first probes ``GET _data_stream``,
    an endpoint the embedded node (no data-streams module) answers with 400.
    """
    es.indices.refresh(index=list(sources))
    op_type = "create" if only_missing else "index"
    actions = ({"_op_type": op_type, "_index": target, "_id": hit["_id"], "_source": hit["_source"]}
               for hit in helpers.scan(es, index=list(sources), scroll="5m"))
    written, errors = helpers.bulk(es, actions, raise_on_error=False, stats_only=False)
    outcomes = [next(iter(e.values())) for e in errors]  # type: ignore[union-attr]
    failed = [o for o in outcomes if not (only_missing and o.get("status") == 409)]
    if failed:
        first = failed[0]
        raise StoreError(f"copying {', '.join(sources)} into {target}: {len(failed)} documents refused, "
                         f"first {first.get('_id')}: {first.get('error')}")
    es.indices.refresh(index=target)
    return int(written)
