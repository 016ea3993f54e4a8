"""``python -m bench [--quick] [--only e2e,dedup] [--profile]``: run the benchmarks, print each
table and one summary line each, write ``bench/results/latest.json``.

``BENCH_QUICK=1`` in the environment is the same as ``--quick`` (small sizes, a few minutes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, Context, Result, default_workers, node
from ingest import store
from ingest.settings import load_settings

BENCHMARKS = ("e2e", "indexing", "dedup", "growth", "memory", "freshness", "cli", "week")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="small sizes (also BENCH_QUICK=1)",
    )
    parser.add_argument("--tiny", action="store_true", help="smallest sizes: checks that everything runs")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("names", nargs="*", default=[], help="benchmarks to run (same as --only)")
    parser.add_argument("--levels", default="", help="growth: comma-separated sizes, e.g. 10000,1000000")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help="worker processes (default: cores)"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where latest.json goes")
    parser.add_argument(
        "--profile", action="store_true", help="write pyinstrument profiles to bench/results/"
    )
    return parser.parse_args(argv)


def run(names: list[str], ctx: Context) -> list[Result]:
    results = []
    for name in names:
        t0 = time.perf_counter()
        result = importlib.import_module(f"bench.{name}").run(ctx)
        result.metrics["benchmark_seconds"] = round(time.perf_counter() - t0, 1)
        print(result.table(), flush=True)
        print(f"SUMMARY {result.summary}\n", flush=True)
        results.append(result)
    return results


def write(results: list[Result], ctx: Context) -> None:
    ctx.results_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "mode": ctx.mode,
        "workers": ctx.workers,
        "results": [r.to_json_dict() for r in results],
    }
    (ctx.results_dir / "latest.json").write_text(
        json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] + args.names or list(BENCHMARKS)
    if args.levels:
        os.environ["BENCH_GROWTH_LEVELS"] = args.levels  # read by bench.growth (a bench knob, not a setting)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
        return 2
    base = load_settings()
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    t0 = time.perf_counter()
    with node(base) as url:
        settings = base.changed(es={"url": url})
        ctx = Context(settings, store.connect(settings), mode, args.workers, args.profile, args.results_dir)
        ctx.results_dir.mkdir(parents=True, exist_ok=True)
        results = run(names, ctx)
    write(results, ctx)
    print(
        f"{len(results)} benchmarks ({mode}) in {time.perf_counter() - t0:.0f} s; "
        f"results in {ctx.results_dir / 'latest.json'}"
    )
    for r in results:
        print(f"SUMMARY {r.summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
