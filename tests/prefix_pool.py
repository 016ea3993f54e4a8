"""Recycled index prefixes for the tests: a test's indices are emptied, not rebuilt.

Why: creating the eight indices and nine templates of a fresh prefix costs ~0.6 s of cluster-state
updates on the node, and ~300 tests each want one. A prefix given back is reused by the next test
of the same worker only if its layout is exactly the pristine one (same indices, aliases and
template hashes; nothing closed, added or migrated); the indices any write touched
(``indexing`` stats: unrefreshed writes count too) are deleted and created again from the
templates, so term statistics start from zero as in a fresh index. Anything else: dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from ingest import store
from ingest.settings import Settings

Key = tuple[Path, int, int]


def layout_key(cfg: Settings) -> Key:
    """What decides a prefix's indices and templates (prefixes with the same key are alike)."""
    return cfg.files.mappings_dir.resolve(), cfg.es.shards, cfg.es.replicas


class PrefixPool:
    def __init__(self, es: Elasticsearch) -> None:
        self.es = es
        self.free: dict[Key, list[str]] = {}
        self.pristine: dict[Key, Any] = {}
        self.counts = {"created": 0, "reused": 0, "dropped": 0}

    def take(self, cfg: Settings) -> str | None:
        """A free prefix laid out for ``cfg``, or None (the caller applies the templates itself)."""
        free = self.free.get(layout_key(cfg))
        if not free:
            return None
        self.counts["reused"] += 1
        return free.pop()

    def created(self, cfg: Settings) -> None:
        """``cfg``'s prefix was just laid out by ``store.apply_templates``: remember the layout."""
        self.counts["created"] += 1
        self.pristine.setdefault(layout_key(cfg), self._layout(cfg.es.index_prefix))

    def give_back(self, cfg: Settings) -> None:
        prefix, key = cfg.es.index_prefix, layout_key(cfg)
        try:
            if self._layout(prefix) != self.pristine.get(key):
                raise LookupError("layout changed")
            stats = self.es.indices.stats(index=f"{prefix}-*", metric="indexing")["indices"]
            writes = {name: s["primaries"]["indexing"] for name, s in stats.items()}
            touched = sorted(name for name, w in writes.items() if w["index_total"] + w["delete_total"])
            if touched:
                self.es.indices.delete(index=",".join(touched))
                store.apply_templates(self.es, cfg)
            self.free.setdefault(key, []).append(prefix)
        except Exception:  # anything unusual: the prefix is not reused
            self.counts["dropped"] += 1
            store.drop_prefix(self.es, prefix)

    def close(self) -> None:
        for prefixes in self.free.values():
            for prefix in prefixes:
                store.drop_prefix(self.es, prefix)
        self.free.clear()

    def _layout(self, prefix: str) -> Any:
        aliases = self.es.indices.get_alias(index=f"{prefix}-*", expand_wildcards="all")
        indices = {name.removeprefix(prefix): sorted((a.removeprefix(prefix), sorted(v.items()))
                                                     for a, v in body["aliases"].items())
                   for name, body in aliases.items()}
        closed = self.es.cat.indices(index=f"{prefix}-*", h="status", expand_wildcards="all", format="json")
        hashes = store.template_hashes(self.es, prefix)
        templates = {name.removeprefix(prefix): h for name, h in hashes.items()}
        return indices, sorted(row["status"] for row in closed), templates
