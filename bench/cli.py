"""CLI start-up: ``ingest --help`` and ``ingest search`` (against the node, empty index) as subprocesses.

Ratios (higher is better), all measured in this run: ``python -c pass`` over each command (how close
to a bare interpreter), and the old eager start (importing every command module, what each command
paid before the lazy group) over each command. Median of N runs each.

A query cannot start faster than ``import elasticsearch`` (the official client imports its async API
and every HTTP backend installed: requests, httpx, urllib3; no lighter import path exists), so
``ingest search QUERY`` is held to that floor instead of the bare interpreter: the floor over the
command says what our own import chain (typer, pydantic-settings, rich, ingest.search) adds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Context, Result, scratch, verdict

RUNS = {"full": 9, "quick": 5, "tiny": 2}
# What every command paid before the lazy group: every command module with the stage modules they
# imported at their top (the command modules themselves now import those inside each command).
EAGER = ("import ingest.cli, ingest.cli.alerts, ingest.cli.demo, ingest.cli.es, ingest.cli.eval, "
         "ingest.cli.kibana, ingest.cli.maintenance, ingest.cli.run, ingest.cli.search, "
         "ingest.cli.sources, ingest.cli.story, ingest.store, ingest.pipeline, ingest.alerts, "
         "ingest.maintenance, ingest.kibana, rich.console, rich.table, typer.rich_utils")
FLOOR = "import elasticsearch"
TARGET_VS_PASS = 0.03   # a command that needs no client within ~30x a bare `python -c pass`
TARGET_VS_FLOOR = 0.75  # a query: our chain adds at most a third to the client's own import
TARGET_VS_EAGER = 2.0   # at least twice as fast as importing every command


def _median_seconds(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, timeout=120)
        times.append(time.perf_counter() - t0)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-300:]!r}")
    return statistics.median(times)


def run(ctx: Context) -> Result:
    runs = ctx.size(RUNS)
    ingest = str(Path(sys.executable).with_name("ingest"))
    res = Result("cli", ["command", "median s", "python -c pass / cmd", "client import / cmd",
                         "eager import / cmd"])
    with scratch(ctx) as cfg:
        env = {**os.environ, "INGEST_ES_URL": cfg.es.url, "INGEST_INDEX_PREFIX": cfg.es.index_prefix}
        base = _median_seconds([sys.executable, "-c", "pass"], env, runs)
        floor = _median_seconds([sys.executable, "-c", FLOOR], env, runs)
        eager = _median_seconds([sys.executable, "-c", EAGER], env, runs)
        commands = {"help": [ingest, "--help"], "search_help": [ingest, "search", "--help"],
                    "search": [ingest, "search", "غزة"]}
        for name, argv in commands.items():
            seconds = _median_seconds(argv, env, runs)
            if name == "search":
                res.ratio(f"{name}_floor_over_cmd", floor, seconds, TARGET_VS_FLOOR)
            else:
                res.ratio(f"{name}_pass_over_cmd", base, seconds, TARGET_VS_PASS)
            vs_eager = res.ratio(f"{name}_eager_over_cmd", eager, seconds, TARGET_VS_EAGER)
            res.rows.append([" ".join(["ingest", *argv[1:]]), seconds, base / seconds, floor / seconds,
                             vs_eager])
            res.metrics[f"{name}_seconds"] = round(seconds, 3)
    res.rows.append(["python -c pass (baseline)", base, 1.0, floor / base, eager / base])
    res.rows.append([f"python -c '{FLOOR}' (query floor)", floor, base / floor, 1.0, eager / floor])
    res.rows.append(["import every command (old start)", eager, base / eager, floor / eager, 1.0])
    worst = min(r["value"] / r["target"] for r in res.ratios.values())
    m = res.metrics
    res.summary = (f"cli: --help {m['help_seconds']:.2f}s ({base / m['help_seconds']:.3f} of pass), "
                   f"search --help {m['search_help_seconds']:.2f}s, "
                   f"search {m['search_seconds']:.2f}s ({floor / m['search_seconds']:.2f} of the client "
                   f"import {floor:.2f}s); eager/--help {eager / m['help_seconds']:.1f}x "
                   f"({verdict(worst, 1.0)})")
    return res
