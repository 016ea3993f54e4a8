"""``ingest eval``: quality measurements on labelled and real data (one command per stage)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.common import console, progress, reports_errors, settings, tracked

app = typer.Typer(no_args_is_help=True)

DEFAULT_DEDUP_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "dedup"


def _fixtures() -> Path:
    """The corpora folder (ingest/dev/paths.py), read when a command runs, not at import."""
    from ingest.dev.paths import CorpusPaths

    return CorpusPaths().fixtures_dir


@app.command()
@reports_errors
def dedup(
    directory: Annotated[Path, typer.Argument(help="Labelled set folder.")] = DEFAULT_DEDUP_DIR,
    corpus: Annotated[bool, typer.Option(help="Also run on Settings.fixtures_dir/arabic-news.")] = True,
    limit: Annotated[int, typer.Option(help="Use only the first N corpus articles (0 = all).")] = 0,
    background_size: Annotated[int, typer.Option(help="Real articles registered for realistic IDF.")] = 1700,
    ans: Annotated[bool, typer.Option(help="Also score ANS headline pairs (arabic-news/ans_stance).")] = True,
) -> None:
    """Pairwise P/R/F1 for duplicates and B-cubed P/R/F1 for stories (throwaway index prefix)."""
    from ingest import store
    from ingest.dev.evaluation import dedup as ev

    cfg = settings()
    es = store.connect(cfg)
    news = _fixtures() / "arabic-news"
    background = ev.load_saudinewsnet(news / "saudinewsnet")[:background_size]
    # Also without background: the story score must hold in a small index (a demo, a new deployment).
    for bg in (background, []) if background else ([],):
        with progress(f"dedup: labelled set, {len(bg)} background articles"):
            lines = list(ev.evaluate_labelled(es, cfg, directory, background=bg))
        _print(lines)
    if corpus:
        with progress("dedup: arabic-news corpus"):
            lines = list(ev.evaluate_corpus(es, cfg, _fixtures() / "arabic-news", limit=limit))
        _print(lines)
    if ans:
        with progress("dedup: ANS headline pairs"):
            lines = list(ev.evaluate_ans(es, cfg, _fixtures() / "arabic-news" / "ans_stance"))
        _print(lines)


def _print(lines: Iterable[str]) -> None:
    """Result lines as they are (never markup, never wrapped)."""
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
@reports_errors
def extraction(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="extraction-benchmark folder (default: Settings.fixtures_dir/extraction-benchmark)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Use only the first N pages (0 = all).")] = 0,
) -> None:
    """Token P/R/F1 (4-gram shingles, as the ScrapingHub benchmark) per extraction method."""
    from ingest.dev.evaluation import extraction as ev

    folder = directory or _fixtures() / "extraction-benchmark"
    _print(ev.evaluate(folder, limit=limit, track=tracked))


@app.command()
@reports_errors
def crawl(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Fixtures folder with feeds/ and pages/ (default: Settings.fixtures_dir)."),
    ] = None,
) -> None:
    """Serve feeds/ and pages/ on loopback, run the whole pipeline, report coverage and integrity."""
    from ingest.dev.evaluation import crawl as ev

    cfg = settings()
    with progress("crawl: serving the fixtures and running the pipeline"):
        lines = list(ev.evaluate(cfg, directory or _fixtures()))
    _print(lines)


DEFAULT_DATES_FILE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "dates" / "labelled.jsonl"


@app.command()
@reports_errors
def dates(
    labelled: Annotated[
        Path, typer.Argument(help="Labelled Arabic date strings (JSON lines).")
    ] = DEFAULT_DATES_FILE,
) -> None:
    """Publication-date accuracy per family on labelled strings and on the gold-dated real pages."""
    from ingest.dev.evaluation import dates as ev

    with progress("dates: labelled strings and gold-dated pages"):
        lines = list(ev.evaluate(labelled, _fixtures() / "pages" / "arabic"))
    _print(lines)
