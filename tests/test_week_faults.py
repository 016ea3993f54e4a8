"""A pass of the simulated web killed with SIGKILL at several points, and two worker processes
polling one host at once: what the servers and the index saw afterwards."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch
from servers import NodeProxy
from week_support import DELAY, RUNNER, SLACK, T0, indexed, runner_env, sim_settings

from ingest import pipeline, store
from ingest.config import Source
from ingest.dev.evaluation import simweb
from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.dev.evaluation.simweb import SimClock, SimWeb
from ingest.dev.paths import CorpusPaths

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# ---- SIGKILL at several points of a pass -----------------------------------------------------

class HoldingProxy(NodeProxy):
    """Holds (never forwards) the first request whose bytes match ``pattern``, and says so: the
    moment to kill a worker in the middle of indexing."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.pattern: re.Pattern[bytes] | None = None
        self.tripped = threading.Event()

    def on_request(self, chunk: bytes) -> str:
        if self.pattern is not None and not self.tripped.is_set() and self.pattern.search(chunk):
            self.tripped.set()
            return self.HOLD
        return self.FORWARD


@pytest.fixture
def proxy(es_url: str) -> Iterator[HoldingProxy]:
    holder = HoldingProxy(es_url)
    yield holder
    holder.close()




@pytest.mark.parametrize("point", ["after_poll", "mid_fetch", "mid_index"])
def test_a_pass_killed_with_sigkill_loses_and_doubles_nothing(
        point: str, es_url: str, es: Elasticsearch, proxy: HoldingProxy, tmp_path: Path) -> None:
    settings = sim_settings(es_url)
    start = simweb.day_start(days_back=2)
    plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=start, days=0.5, per_host_day=12, seed=12)
    store.apply_templates(es, settings)
    # after every planned fault of the day (all end by 11:00): the kill is the only trouble
    now = plan.end + timedelta(minutes=1)
    try:
        with SimWeb(plan, SimClock(now)) as web:
            sources = web.write_sources(tmp_path / "sources.yaml")
            if point == "mid_index":
                prefix = re.escape(store.alias_name(settings.es.index_prefix, "articles").encode())
                proxy.pattern = re.compile(rb'"_index"\s*:\s*"' + prefix + rb'["-]')
                tripped, es_for_worker = proxy.tripped, proxy.url
            else:
                article = web.trap(lambda h: h.kind == "article", after=1 if point == "after_poll" else 25)
                tripped, es_for_worker = article.tripped, es_url
            worker = subprocess.Popen([sys.executable, str(RUNNER), str(sources), now.isoformat()],
                                      env=runner_env(settings, es_for_worker), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
            try:
                for _ in range(240):  # bounded: 2 minutes
                    if tripped.wait(0.5) or worker.poll() is not None:
                        break
                assert tripped.is_set(), f"the pass never reached {point}: {worker.stdout.read()[-2000:]!r}"
                worker.send_signal(signal.SIGKILL)
                assert worker.wait(30) == -signal.SIGKILL
            finally:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(30)
                for trap in web.traps:
                    trap.release.set()
            # the next passes (a worker restarted later by the scheduler) finish the job
            for step in range(1, 5):
                web.clock.now = now + step * timedelta(hours=1)
                pipeline.run_once(settings, web.sources(), now=web.clock.now)
            expected = {web.url(a) for a in plan.expected(plan.end)}
            counts = Counter(d["url"] for d in indexed(es, settings))
            assert expected - set(counts) == set(), f"{len(expected - set(counts))} of {len(expected)} lost"
            assert set(counts) - {web.url(a) for a in plan.expected(web.clock.now)} == set()
            assert [u for u, n in counts.items() if n > 1] == []
    finally:
        store.drop_prefix(es, settings.es.index_prefix)


# ---- two worker processes polling one host at once ------------------------------------------

def test_polls_from_two_processes_share_the_per_host_delay(es_url: str, es: Elasticsearch,
                                                           tmp_path: Path) -> None:
    """The DAG polls every due source in its own task, so two workers may poll feeds of one host at
    the same moment; from the server's log: starts never closer than the delay, never crowded, and
    the host's turns shared (a worker giving the lease back must not take it again at once)."""
    settings = sim_settings(es_url)
    store.apply_templates(es, settings)
    seen: list[tuple[float, int, str]] = []
    server = LoopbackServer(host="127.0.0.13")
    empty = b"<rss version='2.0'><channel><title>t</title></channel></rss>"

    def handle(request: Request) -> Route:
        seen.append((request.received, server.in_flight, request.path))
        return Route(200, {"Content-Type": simweb.RSS}, empty)

    server.default = handle
    try:
        with server:
            runs = []
            for name in ("a", "b"):
                feeds = [Source(id=f"{name}{i}", name=f"{name}{i}", url=server.url(f"/{name}{i}.xml"),
                                kind="feed") for i in range(15)]
                path = tmp_path / f"{name}.yaml"
                path.write_text(yaml.safe_dump({"sources": [f.model_dump(mode="json") for f in feeds]}))
                runs.append(path)
            start_at = str(time.time() + 4.0)  # both past their imports
            workers = [subprocess.Popen([sys.executable, str(RUNNER), str(path), T0.isoformat(), start_at],
                                        env=runner_env(settings, es_url), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT) for path in runs]
            outputs = [w.communicate(timeout=120)[0] for w in workers]
            assert [w.returncode for w in workers] == [0, 0], outputs
    finally:
        store.drop_prefix(es, settings.es.index_prefix)
    feeds = [(t, path) for t, _, path in seen if path.endswith(".xml")]
    assert len(feeds) == 30
    a = [t for t, path in feeds if path.startswith("/a")]
    b = [t for t, path in feeds if path.startswith("/b")]
    assert max(a[0], b[0]) < min(a[-1], b[-1]), "one worker waited out the other's whole pass"
    order = [path[1] for _, path in sorted(feeds)]
    turns = sum(x != y for x, y in pairwise(order))
    assert turns >= 5, f"the host's turns were not shared: {''.join(order)}"
    starts = sorted(t for t, _, _ in seen)
    gaps = [round(y - x, 3) for x, y in pairwise(starts)]
    assert min(gaps) >= DELAY - SLACK, gaps
    assert max(n for _, n, _ in seen) <= settings.fetch.per_host_concurrency
