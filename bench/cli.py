"""CLI start-up: ``ingest --help`` and ``ingest search`` (against the node, empty index) as subprocesses.

Ratios (higher is better), all measured in this run: ``python -c pass`` over each command (how close
to a bare interpreter), and the old eager start (importing every command module, what each command
paid before the lazy group) over each command. Median of N runs each.
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
EAGER = ("import ingest.cli, ingest.cli.alerts, ingest.cli.demo, ingest.cli.es, ingest.cli.eval, "
         "ingest.cli.kibana, ingest.cli.maintenance, ingest.cli.run, ingest.cli.search, "
         "ingest.cli.sources, ingest.cli.story")
TARGET_VS_PASS = 0.03   # a command within ~30x a bare `python -c pass`
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
    res = Result("cli", ["command", "median s", "python -c pass / cmd", "eager import / cmd"])
    with scratch(ctx) as cfg:
        env = {**os.environ, "INGEST_ES_URL": cfg.es.url, "INGEST_INDEX_PREFIX": cfg.es.index_prefix}
        base = _median_seconds([sys.executable, "-c", "pass"], env, runs)
        eager = _median_seconds([sys.executable, "-c", EAGER], env, runs)
        commands = {"help": [ingest, "--help"], "search": [ingest, "search", "غزة"]}
        for name, argv in commands.items():
            seconds = _median_seconds(argv, env, runs)
            vs_pass = res.ratio(f"{name}_pass_over_cmd", base, seconds, TARGET_VS_PASS)
            vs_eager = res.ratio(f"{name}_eager_over_cmd", eager, seconds, TARGET_VS_EAGER)
            res.rows.append([" ".join(["ingest", *argv[1:]]), seconds, vs_pass, vs_eager])
            res.metrics[f"{name}_seconds"] = round(seconds, 3)
    res.rows.append(["python -c pass (baseline)", base, 1.0, eager / base])
    res.rows.append(["import every command (old start)", eager, base / eager, 1.0])
    worst = min(r["value"] / r["target"] for r in res.ratios.values())
    res.summary = (f"cli: --help {res.metrics['help_seconds']:.2f}s, "
                   f"search {res.metrics['search_seconds']:.2f}s; "
                   f"eager/--help {eager / res.metrics['help_seconds']:.1f}x "
                   f"({verdict(worst, 1.0)})")
    return res
