"""Shared fixtures: the real embedded Elasticsearch node and isolated index prefixes.

The node is started once per session (or reused when one is already running, e.g. after
`ingest es start`) and stopped at the end only if this session started it. When it cannot be
started, the tests that need it fail with the reason: they are never skipped.

Under pytest-xdist (``make test`` runs ``-n 2``) the controller borrows the node once, before the
workers exist, and hands its URL to them as INGEST_TEST_ES_URL: a worker that started the node
itself would stop it at its end while the other worker still uses it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from prefix_pool import PrefixPool

from ingest import store
from ingest.dev import node
from ingest.dev.paths import CorpusPaths
from ingest.settings import Settings, load_settings

SEEDS = CorpusPaths().seeds_dir
NODE_ERROR = "INGEST_TEST_ES_ERROR"  # why the controller could not start the node (xdist)
_controller_node = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    """xdist controller only: borrow the node for the whole run and share its URL with the workers."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None) \
            or os.environ.get("INGEST_TEST_ES_URL"):
        return
    try:
        url = _controller_node.enter_context(node.serving("", load_settings().files.cache_dir))
    except Exception as exc:  # the tests that need the node fail with this reason, the others run
        os.environ[NODE_ERROR] = f"{type(exc).__name__}: {exc}"
        return
    os.environ["INGEST_TEST_ES_URL"] = url


def pytest_unconfigure(config: pytest.Config) -> None:
    _controller_node.close()  # stops the node only if the controller started it


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """URL of a healthy node: INGEST_TEST_ES_URL, else the embedded one (reused, or started and
    stopped at the end; raises with the node's log tail when it cannot start)."""
    if os.environ.get(NODE_ERROR):
        raise RuntimeError(f"the embedded node could not start: {os.environ[NODE_ERROR]}")
    with node.serving(os.environ.get("INGEST_TEST_ES_URL", ""), load_settings().files.cache_dir) as url:
        yield url


@pytest.fixture(scope="session")
def es(es_url: str) -> Elasticsearch:
    return Elasticsearch(es_url, request_timeout=60)


@pytest.fixture(scope="session")
def prefix_pool(es: Elasticsearch) -> Iterator[PrefixPool]:
    pool = PrefixPool(es)
    yield pool
    pool.close()


@pytest.fixture
def make_settings(es_url: str, es: Elasticsearch,
                  prefix_pool: PrefixPool) -> Iterator[Callable[..., Settings]]:
    """Factory of settings with an index prefix of their own per call, cleaned up after.

    ``applied=True``: the templates and the (empty) indices are in place, from this worker's pool
    of recycled prefixes (``tests/prefix_pool.py``); otherwise no index of the prefix exists yet."""
    made: list[tuple[Settings, bool]] = []

    def factory(*, applied: bool = False, **overrides: object) -> Settings:
        values: dict[str, object] = {"es_url": es_url, "index_prefix": f"t{uuid.uuid4().hex[:10]}",
                                     **overrides}
        cfg = load_settings(**values)
        if applied:
            if reused := prefix_pool.take(cfg):
                cfg = load_settings(**{**values, "index_prefix": reused})
            else:
                store.apply_templates(es, cfg)
                prefix_pool.created(cfg)
        made.append((cfg, applied))
        return cfg

    yield factory
    for cfg, pooled in made:
        if pooled:
            prefix_pool.give_back(cfg)
        else:
            store.drop_prefix(es, cfg.es.index_prefix)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Settings with a prefix of their own and the templates/indices already applied."""
    return make_settings(applied=True)


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    """The five real seed reports, by file stem."""
    paths = sorted(Path(SEEDS).glob("0*.txt"))
    assert len(paths) == 5, f"expected 5 seed texts in {SEEDS}, found {len(paths)}"
    return {p.stem: p.read_text(encoding="utf-8") for p in paths}
