"""``ingest eval extraction``: article-body quality on the ScrapingHub extraction benchmark.

Scored the way that benchmark scores it: word 4-gram shingles (``\\w+`` tokens), per page
true/false positives and false negatives normalised to sum 1, then precision averaged over pages
that predicted something, recall over pages that have a body, F1 from the two means. The
benchmark's own predictions (``baseline-output/``) are scored too, so the scorer can be checked
against the published figures (trafilatura 0.958, best open extractor 0.970).
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import ConfigError, IngestError
from ingest.extract import from_readability, from_trafilatura, select

TOKEN = re.compile(r"\w+")
SHINGLE = 4
PUBLISHED = {"trafilatura 2.0.0 (published)": 0.958, "rs_trafilatura (best open, published)": 0.970}


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def shingles(text: str, n: int = SHINGLE) -> Counter[tuple[str, ...]]:
    """Counts of word n-grams; a text shorter than n words is one shingle of all its words."""
    tokens = TOKEN.findall(text or "")
    if len(tokens) <= n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def page_counts(truth: str, predicted: str) -> tuple[float, float, float]:
    """(tp, fp, fn) over shingle multisets, normalised so every page weighs the same."""
    true, pred = shingles(truth), shingles(predicted)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(counts: list[tuple[float, float, float]]) -> Score:
    precisions = [_ratio(tp, fp, fn, fp) for tp, fp, fn in counts if tp + fp > 0]
    recalls = [_ratio(tp, fp, fn, fn) for tp, fp, fn in counts if tp + fn > 0]
    return Score(statistics.mean(precisions) if precisions else 0.0,
                 statistics.mean(recalls) if recalls else 0.0)


def _ratio(tp: float, fp: float, fn: float, miss: float) -> float:
    if fp == fn == 0:
        return 1.0
    return tp / (tp + miss) if tp + miss else 0.0


def load_pages(directory: Path, limit: int = 0) -> Iterator[tuple[str, str, str, str]]:
    """(id, url, html, true body) per benchmark page."""
    truth_file = directory / "ground-truth.json"
    if not truth_file.is_file():
        raise ConfigError(f"{directory}: no ground-truth.json (is this the extraction-benchmark folder?)")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    for n, (key, entry) in enumerate(sorted(truth.items())):
        if limit and n >= limit:
            return
        raw = gzip.decompress((directory / "html" / f"{key}.html.gz").read_bytes())
        html = raw.decode("utf-8", "replace")
        yield key, entry.get("url", ""), html, entry.get("articleBody", "")


def _chain(html: str, url: str) -> str:
    return select(html, url, None).text


def _only(extractor: Callable[..., object]) -> Callable[[str, str], str]:
    def run(html: str, url: str) -> str:
        return extractor(html, url, None).text  # type: ignore[attr-defined]
    return run


METHODS: Mapping[str, Callable[[str, str], str]] = {
    "trafilatura alone": _only(from_trafilatura),
    "readability alone": _only(from_readability),
    "fallback chain": _chain,
}


def evaluate(directory: Path, *, limit: int = 0,
             track: Callable[[list, str], Iterable] = lambda items, _what: items) -> list[str]:
    """Per-method precision/recall/F1 lines (ours, then the benchmark's baselines); ``track`` wraps
    the page loop (the CLI's progress bar)."""
    pages = list(load_pages(directory, limit))
    counts: dict[str, list[tuple[float, float, float]]] = {name: [] for name in METHODS}
    winners: Counter[str] = Counter()
    started = time.perf_counter()
    for _key, url, html, truth in track(pages, "extraction: pages"):
        for name, method in METHODS.items():
            counts[name].append(page_counts(truth, _text_or_empty(method, html, url)))
        winners[_winner(html, url)] += 1
    lines = [f"extraction benchmark: {len(pages)} pages from {directory} "
             f"({time.perf_counter() - started:.0f}s); 4-gram shingle P/R/F1",
             f"{'method':<40}{'precision':>10}{'recall':>10}{'F1':>8}"]
    lines += [_line(name, score(c)) for name, c in counts.items()]
    lines += _baselines(directory, [p[0] for p in pages])
    lines += [f"{name:<40}{'':>10}{'':>10}{f1:>8.3f}" for name, f1 in PUBLISHED.items()]
    lines.append("chain winners: " + ", ".join(f"{k}={v}" for k, v in winners.most_common()))
    return lines


def _text_or_empty(method: Callable[[str, str], str], html: str, url: str) -> str:
    """An extractor that fails predicts nothing for the page (scored as such, not skipped)."""
    try:
        return method(html, url)
    except IngestError:
        return ""


def _winner(html: str, url: str) -> str:
    try:
        return select(html, url, None).method
    except IngestError as exc:
        return f"none({exc.reason})"


def _baselines(directory: Path, keys: list[str]) -> list[str]:
    lines = []
    truth = json.loads((directory / "ground-truth.json").read_text(encoding="utf-8"))
    for path in sorted((directory / "baseline-output").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        predicted = data.get("output", data)
        counts = [page_counts(truth[k].get("articleBody", ""), predicted.get(k, {}).get("articleBody", ""))
                  for k in keys]
        lines.append(_line(f"baseline-output/{path.stem} (rescored)", score(counts)))
    return lines


def _line(name: str, result: Score) -> str:
    return f"{name:<40}{result.precision:>10.3f}{result.recall:>10.3f}{result.f1:>8.3f}"
