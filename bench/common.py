"""What every benchmark shares: the node, throwaway index prefixes, timing, worker processes,
result tables, and loopback pages (served by the project's one loopback server).

Why here: each benchmark module stays a short description of *what* is measured against *which*
baseline; how to time, how to run N workers fairly and how to clean up is written once.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from elasticsearch import Elasticsearch

from ingest import store
from ingest.dev.evaluation.server import LoopbackServer, Route
from ingest.settings import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MODES = ("full", "quick", "tiny")
T = TypeVar("T")


# ---- context and sizes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """One benchmark run: base settings (with the node's URL), a client, the size mode."""

    settings: Settings
    es: Elasticsearch
    mode: str = "full"
    workers: int = 2
    profile: bool = False
    results_dir: Path = RESULTS_DIR
    # scratch() prefixes are "<scratch_prefix>-<random>": a run (the smoke test) can name its own
    # scratch_prefix and check only its own indices on a node others benchmark on too.
    scratch_prefix: str = "bench"
    # Backgrounds kept on the node between runs (bench.growth): "<cache_prefix>-<code>-<levels>-*".
    cache_prefix: str = "benchcache"

    def size(self, table: Mapping[str, T]) -> T:
        """The value of ``table`` for this run's mode (``full`` / ``quick`` / ``tiny``)."""
        return table[self.mode]


def default_workers() -> int:
    """As many worker processes as cores: the production shape of one machine."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def node_cpu_ms(ctx: Context) -> float:
    """CPU the Elasticsearch node(s) used so far, ms (other clients of a shared node included).

    The node refreshes its process stats once a second (monitor.process), so this waits that long
    first (call it outside the timed part), else a short run reads the same value twice."""
    time.sleep(1.1)
    nodes = ctx.es.nodes.stats(metric="process")["nodes"].values()
    return float(sum(n["process"]["cpu"]["total_in_millis"] for n in nodes))


@contextlib.contextmanager
def scratch(ctx: Context, **overrides: object) -> Iterator[Settings]:
    """Settings with a fresh ``<scratch_prefix>-*`` index prefix, templates applied; indices deleted after."""
    prefix = f"{ctx.scratch_prefix}-{uuid.uuid4().hex[:10]}"
    cfg = ctx.settings.changed(es={"index_prefix": prefix}, **overrides)
    store.apply_templates(ctx.es, cfg)
    try:
        yield cfg
    finally:
        store.drop_prefix(ctx.es, prefix)


@contextlib.contextmanager
def node(settings: Settings) -> Iterator[str]:
    """URL of a healthy node: ``settings.es.url``, the running embedded node, or one started here
    (and stopped again at the end, since nobody else asked for it)."""
    from ingest.dev.node import serving

    with serving(settings.es.url, settings.files.cache_dir) as url:
        yield url


# ---- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    """A printed table, one summary line, and the numbers behind them for ``latest.json``."""

    name: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    summary: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ratio(self, name: str, value: float, baseline: float, target: float) -> float:
        """Record ``value / baseline`` against its target (higher is better for every ratio)."""
        r = value / baseline if baseline else 0.0
        self.ratios[name] = {"value": round(r, 4), "target": target}
        return r

    def table(self) -> str:
        cells = [[str(c) for c in self.columns]] + [[fmt(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([f"== {self.name} ==", *lines, *(f"  note: {n}" for n in self.notes)])

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "summary": self.summary,
            "metrics": self.metrics,
            "ratios": self.ratios,
            "notes": self.notes,
        }


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def verdict(r: float, target: float) -> str:
    return "ok" if r >= target else "UNDER TARGET"


# ---- timing ----------------------------------------------------------------------------------


class Stopwatch:
    """``with Stopwatch() as sw: ...``; then ``sw.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


@contextlib.contextmanager
def profiled(path: Path | str | None) -> Iterator[None]:
    """pyinstrument around the block, its text report written to ``path`` (no-op when empty)."""
    if not path:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else 0.0


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; ``None`` with fewer than two distinct xs (no line)."""
    if len(set(xs)) < 2:
        return None
    return float(np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)[0])


# ---- worker processes ------------------------------------------------------------------------


def _worker_main(
    prepare: Callable[..., Any], work: Callable[[Any], Any], args: tuple, ready: Any, go: Any, out: Any
) -> None:
    try:
        state = prepare(*args)  # imports, corpus loading, connections: not timed
    except BaseException as exc:
        ready.release()
        out.put(("error", f"prepare: {type(exc).__name__}: {exc}"))
        return
    ready.release()
    go.wait()
    try:
        out.put(("ok", work(state)))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def run_workers(
    prepare: Callable[..., Any], work: Callable[[Any], Any], per_worker: Sequence[tuple]
) -> tuple[float, list[Any]]:
    """One spawned process per args tuple: ``state = prepare(*args)`` untimed, then all processes
    start ``work(state)`` at the same moment; returns (wall seconds until the last one finished,
    their results). Both functions must be module-level (spawn pickles them by name)."""
    spawn = mp.get_context("spawn")
    ready, go, out = spawn.Semaphore(0), spawn.Event(), spawn.Queue()
    procs = [
        spawn.Process(target=_worker_main, args=(prepare, work, args, ready, go, out)) for args in per_worker
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=900):
            raise RuntimeError("a benchmark worker did not get ready within 15 minutes")
    t0 = time.perf_counter()
    go.set()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    errors = [r for status, r in results if status == "error"]
    if errors:
        raise RuntimeError("benchmark worker failed: " + "; ".join(errors))
    return wall, [r for _, r in results]


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """Round-robin split, so every worker gets the same mix."""
    return [list(items[i::parts]) for i in range(parts)]


# ---- loopback pages ---------------------------------------------------------------------------

Page = tuple[int, Mapping[str, str], bytes]


def page_server(resolve: Callable[[str], Page]) -> LoopbackServer:
    """The project's loopback server answering every path from ``resolve(path)``.

    Why a function and not routes: thousands of distinct URLs map onto a few hundred real pages, so
    the page is looked up (or rendered) per request instead of being stored once per URL.
    """
    return LoopbackServer(default=lambda request: Route(*resolve(request.path)))


NOT_FOUND: Page = (404, {"Content-Type": "text/plain"}, b"not found")
ROBOTS: Page = (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n")
