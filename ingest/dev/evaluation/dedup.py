"""Dedup evaluation: pairwise P/R/F1 for duplicate groups, B-cubed P/R/F1 for stories.

Why here and not in tests: the same code scores the labelled set (tests/fixtures/dedup) and the
real corpus (Settings.fixtures_dir/arabic-news), against a throwaway index prefix, so thresholds
are calibrated on data and the numbers in the issue note can be reproduced with one command.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import random
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import Elasticsearch

from ingest import store
from ingest.dedup import Decision, decide, registry
from ingest.dedup.decide import entry_for
from ingest.dedup.similarity import story_score
from ingest.dev.paths import CorpusPaths
from ingest.errors import ConfigError
from ingest.models import Article, doc_id_for
from ingest.settings import Settings

Clusters = Mapping[str, str]  # article id -> cluster id


@dataclass(frozen=True)
class Labelled:
    article: Article
    dup: str
    story: str


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float

    def __str__(self) -> str:
        return f"P={self.precision:.3f} R={self.recall:.3f} F1={self.f1:.3f}"


def _prf(tp: float, pred: float, gold: float) -> PRF:
    p = tp / pred if pred else 1.0
    r = tp / gold if gold else 1.0
    return PRF(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def _pairs(clusters: Clusters) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for item, cluster in clusters.items():
        groups[cluster].append(item)
    return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)}  # type: ignore[misc]


def pairwise(pred: Clusters, gold: Clusters) -> PRF:
    """Precision/recall over the pairs put together (the usual near-duplicate measure)."""
    p, g = _pairs(pred), _pairs(gold)
    return _prf(len(p & g), len(p), len(g))


def bcubed(pred: Clusters, gold: Clusters) -> PRF:
    """B-cubed: per item, the share of its predicted cluster that is right, and vice versa."""
    by_pred: dict[str, set[str]] = defaultdict(set)
    by_gold: dict[str, set[str]] = defaultdict(set)
    for item in gold:
        by_pred[pred[item]].add(item)
        by_gold[gold[item]].add(item)
    precision = sum(len(by_pred[pred[i]] & by_gold[gold[i]]) / len(by_pred[pred[i]]) for i in gold) / len(
        gold
    )
    recall = sum(len(by_pred[pred[i]] & by_gold[gold[i]]) / len(by_gold[gold[i]]) for i in gold) / len(gold)
    return PRF(
        precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    )


# --- the labelled set -------------------------------------------------------------------------

_TASHKEEL = "\u064e\u0650\u064f\u0652"


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.splitlines() if p.strip()]


def _add_diacritics(text: str) -> str:
    out, n = [], 0
    for ch in text:
        out.append(ch)
        if "\u0628" <= ch <= "\u064a":
            n += 1
            if n % 3 == 0:
                out.append(_TASHKEEL[n % 4])
    return "".join(out)


def _punctuate(text: str) -> str:
    return text.replace("،", ",").replace(".", "؛").replace('"', "«")


_OPS: dict[str, Callable[[str, Any], str]] = {
    "prepend": lambda t, v: f"{v}\n{t}",
    "append": lambda t, v: f"{t}\n{v}",
    "drop_paragraph": lambda t, v: "\n".join(p for i, p in enumerate(_paragraphs(t)) if i != v),
    "swap_paragraphs": lambda t, v: "\n".join(_swap(_paragraphs(t), *v)),
    "diacritics": lambda t, v: _add_diacritics(t),
    "punctuation": lambda t, v: _punctuate(t),
}


def _swap(items: list[str], i: int, j: int) -> list[str]:
    items = list(items)
    items[i], items[j] = items[j], items[i]
    return items


def make_article(key: str, source: str, title: str, body: str, at: datetime) -> Article:
    """A labelled article at ``https://<source>.example/<key>`` (also used by the tests)."""
    url = f"https://{source}.example/{key}"
    return Article(
        doc_id=doc_id_for(url),
        url=url,
        canonical_url=url,
        source_id=source,
        source_name=source,
        domain=f"{source}.example",
        feed="",
        title=title,
        body=body,
        lang="ar",
        published_at=at,
        fetched_at=at,
    )


def load_labelled(directory: Path, seeds_dir: Path) -> list[Labelled]:
    """Seeds, their variants (recipes in labels.yaml) and the unrelated texts, with gold labels."""
    spec = yaml.safe_load((directory / "labels.yaml").read_text(encoding="utf-8"))
    items: dict[str, Labelled] = {}
    for seed in spec["seeds"]:
        text = next(iter(sorted(seeds_dir.glob(seed["file"])))).read_text(encoding="utf-8")
        at = datetime.fromisoformat(seed["published_at"])
        title = text.splitlines()[0][:120]
        items[seed["id"]] = Labelled(
            make_article(seed["id"], seed["source"], title, text, at), seed["id"], seed["story"]
        )
    for var in spec["variants"]:
        base = items[var["base"]]
        body = base.article.body
        for op in var["ops"]:
            ((name, value),) = op.items()
            body = _OPS[name](body, value)
        at = base.article.published_at + timedelta(hours=var["hours"])  # type: ignore[operator]
        art = make_article(var["id"], var["source"], var.get("title", base.article.title), body, at)
        items[var["id"]] = Labelled(art, base.dup, base.story)
    for doc in yaml.safe_load((directory / "unrelated.yaml").read_text(encoding="utf-8")):
        at = datetime.fromisoformat(doc["published_at"])
        items[doc["id"]] = Labelled(
            make_article(doc["id"], doc["source"], doc["title"], doc["body"], at),
            doc["id"],
            doc.get("story", doc["id"]),
        )
    return list(items.values())


# --- the real corpus --------------------------------------------------------------------------


def _saudinewsnet_records(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.json")):
        yield from json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(folder.glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".json") and not (folder / Path(name).name).exists():
                    yield from json.loads(archive.read(name).decode("utf-8"))


def load_saudinewsnet(folder: Path) -> list[Article]:
    """SaudiNewsNet days as Articles; the crawl time is the only date the corpus has."""
    out = []
    for rec in _saudinewsnet_records(folder):
        at = datetime.fromisoformat(rec["date_extracted"].replace(" ", "T")).replace(tzinfo=UTC)
        out.append(
            Article(
                doc_id=doc_id_for(rec["url"]),
                url=rec["url"],
                canonical_url=rec["url"],
                source_id=rec["source"],
                source_name=rec["source"],
                domain=rec["source"],
                feed="",
                title=rec.get("title") or "",
                body=rec.get("content") or "",
                lang="ar",
                published_at=at,
                fetched_at=at,
            )
        )
    return out


def exact_silver(articles: Sequence[Article]) -> dict[str, str]:
    """Silver duplicate groups: identical normalised body (what a human would call a reprint)."""
    from ingest.arabic import tokens

    groups: dict[str, str] = {}
    first: dict[str, str] = {}
    for a in articles:
        key = " ".join(tokens(a.body)) or a.doc_id
        groups[a.doc_id] = first.setdefault(key, a.doc_id)
    return groups


# --- running decide on a throwaway prefix -----------------------------------------------------


def register_background(es: Elasticsearch, settings: Settings, articles: Sequence[Article]) -> None:
    """Register (not decide) real articles so document frequencies look like a live index.

    Why: a 19-document index gives degenerate IDF (every Armenia term looks common). The
    background is dated 2015, outside every time window, so it is never a candidate itself.
    """
    cfg = settings.dedup
    now = datetime.now(UTC)
    entries = {a.doc_id: entry_for(a, cfg, now) for a in articles}
    registry.register(es, registry.alias(settings), list(entries.values()))


def run(
    es: Elasticsearch,
    settings: Settings,
    articles: Sequence[Article],
    *,
    batch_size: int,
    seed: int | None = None,
    background: Sequence[Article] = (),
) -> dict[str, Decision]:
    """Decide ``articles`` in batches (shuffled when ``seed`` is given) under a fresh prefix."""
    cfg = settings.changed(es={"index_prefix": f"eval-{uuid.uuid4().hex[:8]}"})
    order = list(articles)
    if seed is not None:
        random.Random(seed).shuffle(order)
    store.apply_templates(es, cfg)
    try:
        register_background(es, cfg, background)
        out: dict[str, Decision] = {}
        for i in range(0, len(order), batch_size):
            for d in decide(es, cfg, order[i : i + batch_size]):
                out[d.doc_id] = d
        return out
    finally:
        store.drop_prefix(es, cfg.es.index_prefix)


Schedule = Sequence[Sequence[Sequence[Article]]]  # calls, one after the other; each: batches run at once


def run_schedule(
    es: Elasticsearch, settings: Settings, schedule: Schedule, *, background: Sequence[Article] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """Run ``schedule`` under a fresh prefix; (duplicate group, story) per id as the registry holds
    them at the end (stories resolved through their founders: what ``ingest story`` shows)."""
    from ingest import stories

    cfg = settings.changed(es={"index_prefix": f"eval-{uuid.uuid4().hex[:8]}"})
    store.apply_templates(es, cfg)
    try:
        register_background(es, cfg, background)
        ids: list[str] = []
        for step in schedule:
            ids += [a.doc_id for batch in step for a in batch]
            _concurrently(cfg, step)
        final = stories.final_decisions(es, cfg, ids)
    finally:
        store.drop_prefix(es, cfg.es.index_prefix)
    return {i: d.duplicate_of or i for i, d in final.items()}, {i: d.story_id for i, d in final.items()}


def _concurrently(settings: Settings, batches: Sequence[Sequence[Article]]) -> None:
    """One ``decide`` per batch, each on its own client and thread, started together (workers)."""
    import threading

    errors: list[BaseException] = []
    barrier = threading.Barrier(len(batches))

    def work(batch: Sequence[Article]) -> None:
        try:
            client = store.connect(settings)
            barrier.wait()
            decide(client, settings, list(batch))
        except BaseException as exc:  # surfaced below, with its traceback
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def order_classes(items: Sequence[Labelled], batch_size: int = 4) -> dict[str, Schedule]:
    """The arrival orders the README promises not to matter, as schedules of ``decide`` calls."""
    copies = [x.article for x in items if x.dup != x.article.url.rsplit("/", 1)[-1]]
    originals = [x.article for x in items if x.dup == x.article.url.rsplit("/", 1)[-1]]
    by_time = sorted(originals + copies, key=lambda a: (a.published_at, a.doc_id))
    shuffled = list(by_time)
    random.Random(7).shuffle(shuffled)

    def batches(arts: Sequence[Article]) -> list[list[list[Article]]]:
        return [[list(arts[i : i + batch_size])] for i in range(0, len(arts), batch_size)]

    return {
        "originals first": batches(by_time),
        "copies first": batches(copies[::-1] + originals[::-1]),
        "interleaved": batches(shuffled),
        "split across runs": [[copies], [originals]],
        "two workers at once": [[copies + originals[::2], originals[1::2]]],
    }


def order_agreement(
    es: Elasticsearch, settings: Settings, items: Sequence[Labelled], *, background: Sequence[Article] = ()
) -> list[str]:
    """Partitions of each order class against the first one (pairwise F1 1.000 = identical) and gold."""
    gold_dup = {x.article.doc_id: x.dup for x in items}
    gold_story = {x.article.doc_id: x.story for x in items}
    results = {
        name: run_schedule(es, settings, sched, background=background)
        for name, sched in order_classes(items).items()
    }
    ref_name, (ref_dup, ref_story) = next(iter(results.items()))
    lines = [f"  order independence (final registry state; agreement with «{ref_name}», then gold):"]
    for name, (dups, stories) in results.items():
        lines.append(
            f"    {name:<20} dups F1 {pairwise(dups, ref_dup).f1:.3f} stories F1 "
            f"{pairwise(stories, ref_story).f1:.3f} | vs gold: dups {pairwise(dups, gold_dup).f1:.3f} "
            f"stories B-cubed {bcubed(stories, gold_story).f1:.3f}"
        )
    agree = all(
        pairwise(d, ref_dup).f1 == 1.0 and pairwise(st, ref_story).f1 == 1.0 for d, st in results.values()
    )
    lines.append(f"    identical partitions across {len(results)} order classes: {'yes' if agree else 'NO'}")
    return lines


def groups_of(decisions: Mapping[str, Decision]) -> tuple[dict[str, str], dict[str, str]]:
    """(duplicate group, story) per id; chains of duplicate_of are followed to their root."""

    def root(doc_id: str) -> str:
        seen = set()
        while (
            decisions[doc_id].duplicate_of
            and doc_id not in seen
            and decisions[doc_id].duplicate_of in decisions
        ):
            seen.add(doc_id)
            doc_id = decisions[doc_id].duplicate_of  # type: ignore[assignment]
        return doc_id

    return {i: root(i) for i in decisions}, {i: d.story_id for i, d in decisions.items()}


def evaluate_labelled(
    es: Elasticsearch,
    settings: Settings,
    directory: Path,
    *,
    batch_size: int = 4,
    seeds: Sequence[int | None] = (None, 1, 2),
    background: Sequence[Article] = (),
) -> list[str]:
    """Report lines for the labelled set, once per processing order."""
    items = load_labelled(directory, CorpusPaths().seeds_dir)
    gold_dup = {x.article.doc_id: x.dup for x in items}
    gold_story = {x.article.doc_id: x.story for x in items}
    names = {x.article.doc_id: x.article.url.rsplit("/", 1)[-1] for x in items}
    lines = [
        f"labelled set {directory}: {len(items)} articles, {len(set(gold_dup.values()))} dup groups, "
        f"{len(set(gold_story.values()))} stories; background for IDF: {len(background)} registered articles"
    ]
    for seed in seeds:
        dups, stories = groups_of(
            run(
                es,
                settings,
                [x.article for x in items],
                batch_size=batch_size,
                seed=seed,
                background=background,
            )
        )
        order = "given order" if seed is None else f"shuffled (seed {seed})"
        lines.append(
            f"  [{order}, batch {batch_size}] duplicates pairwise {pairwise(dups, gold_dup)}; "
            f"stories B-cubed {bcubed(stories, gold_story)}; stories pairwise {pairwise(stories, gold_story)}"
        )
        lines.extend(
            f"    wrong {kind}: {names[a]} ~ {names[b]} ({'predicted' if pred else 'missed'})"
            for kind, pred_c, gold_c in (("dup", dups, gold_dup), ("story", stories, gold_story))
            for a, b, pred in _errors(pred_c, gold_c)
        )
    lines.extend(order_agreement(es, settings, items, background=background))
    return lines


def _errors(pred: Clusters, gold: Clusters) -> list[tuple[str, str, bool]]:
    p, g = _pairs(pred), _pairs(gold)
    return [(a, b, True) for a, b in sorted(p - g)] + [(a, b, False) for a, b in sorted(g - p)]


def evaluate_corpus(
    es: Elasticsearch, settings: Settings, folder: Path, *, batch_size: int = 100, limit: int = 0
) -> list[str]:
    """SaudiNewsNet: duplicates against the exact-copy silver set, story statistics, a sample to check."""
    articles = [a for a in load_saudinewsnet(folder / "saudinewsnet") if a.body.strip()]
    articles = list({a.doc_id: a for a in articles}.values())
    if limit:
        articles = articles[:limit]
    decisions = run(es, settings, articles, batch_size=batch_size)
    dups, stories = groups_of(decisions)
    silver = exact_silver(articles)
    tiers = defaultdict(int)
    for d in decisions.values():
        tiers[d.tier] += 1
    sizes = defaultdict(int)
    for s in stories.values():
        sizes[s] += 1
    multi = sum(1 for n in sizes.values() if n > 1)
    dup_pairs, silver_pairs = _pairs(dups), _pairs(silver)
    return [
        f"SaudiNewsNet {folder}: {len(articles)} articles",
        f"  tiers: {dict(sorted(tiers.items()))}",
        f"  duplicates vs exact-copy silver set: pairwise {pairwise(dups, silver)} "
        f"(predicted pairs {len(dup_pairs)}, silver pairs {len(silver_pairs)}, "
        f"recall of exact copies {len(dup_pairs & silver_pairs) / max(1, len(silver_pairs)):.3f})",
        f"  stories: {len(sizes)} ({multi} with 2+ articles, largest {max(sizes.values())})",
    ]


# --- ANS headline pairs -----------------------------------------------------------------------

ANS_SPLITS = ("train", "dev", "test")
ANS_SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


@dataclass(frozen=True)
class HeadlinePair:
    s1: str
    s2: str
    stance: str  # agree (same story) | disagree (same topic, contradicting claim) | other (unrelated)


def load_ans(folder: Path) -> list[HeadlinePair]:
    """The ANS stance pairs of every split present (columns s1, s2, stance)."""
    paths = [folder / f"{split}.csv" for split in ANS_SPLITS if (folder / f"{split}.csv").is_file()]
    if not paths:
        raise ConfigError(f"ANS: no {'/'.join(ANS_SPLITS)}.csv in {folder}", reason="fixtures_missing")
    pairs = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), 2):
                if not (row.get("s1") and row.get("s2") and row.get("stance")):
                    raise ConfigError(f"ANS: {path.name} line {n}: needs s1, s2 and stance", reason="bad_row")
                pairs.append(HeadlinePair(row["s1"].strip(), row["s2"].strip(), row["stance"].strip()))
    return pairs


def _headline_article(text: str, at: datetime) -> Article:
    """A headline alone as an article: title and body both the headline, so the story score of
    two such articles is exactly the cosine the story tier computes (title and body weights add to 1)."""
    key = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    return make_article(key, "ans", text, text, at)


def headline_scores(es: Elasticsearch, settings: Settings, pairs: Sequence[HeadlinePair]) -> list[float]:
    """Story score of each pair, from term vectors of every headline registered in a throwaway
    registry (document frequencies from the headlines themselves, N read as ``story_prior_docs``)."""
    cfg = settings.changed(es={"index_prefix": f"eval-{uuid.uuid4().hex[:8]}"})
    th = cfg.dedup
    at = datetime(2020, 1, 1, tzinfo=UTC)
    articles = {t: _headline_article(t, at) for p in pairs for t in (p.s1, p.s2)}
    store.apply_templates(es, cfg)
    try:
        index = registry.alias(cfg)
        registry.register(es, index, [entry_for(a, th, at) for a in articles.values()])
        ids = [a.doc_id for a in articles.values()]
        vectors: dict[str, Any] = {}
        for i in range(0, len(ids), 500):
            vectors |= registry.term_vectors(
                es, index, ids[i : i + 500], ["title", "body"], term_statistics=True
            )
    finally:
        store.drop_prefix(es, cfg.es.index_prefix)
    tv = {t: vectors.get(a.doc_id, {}) for t, a in articles.items()}
    return [story_score(tv[p.s1], tv[p.s2], th.story_title_weight, th.story_prior_docs) for p in pairs]


def _same_story_prf(pairs: Sequence[HeadlinePair], scores: Sequence[float], threshold: float) -> str:
    said = [(p.stance, s >= threshold) for p, s in zip(pairs, scores, strict=True)]
    tp = sum(1 for st, same in said if st == "agree" and same)
    fp_ = sum(1 for st, same in said if st == "other" and same)
    gold = sum(1 for st, _ in said if st == "agree")
    disagree = [same for st, same in said if st == "disagree"]
    return (
        f"{_prf(tp, tp + fp_, gold)}; disagree called same story "
        f"{sum(disagree)}/{len(disagree)} = {sum(disagree) / max(1, len(disagree)):.3f}"
    )


def evaluate_ans(es: Elasticsearch, settings: Settings, folder: Path) -> list[str]:
    """Headline-level check of the story similarity on ANS (agree = same story, other = unrelated).

    Disagree pairs are one headline and a contradicting claim about the same event: same topic
    by construction, so "same story" for them is expected, not an error (informational only).
    """
    pairs = load_ans(folder)
    scores = headline_scores(es, settings, pairs)
    counts = {st: sum(1 for p in pairs if p.stance == st) for st in sorted({p.stance for p in pairs})}
    thr = settings.dedup.story_threshold
    return [
        f"ANS headline pairs {folder}: {len(pairs)} pairs {counts}",
        f"  same story (agree vs other) at story threshold {thr}: {_same_story_prf(pairs, scores, thr)}",
        "  (disagree = same event, contradicting claim: same topic by construction, informational)",
        *(f"    threshold {t:.2f}: {_same_story_prf(pairs, scores, t)}" for t in ANS_SWEEP),
    ]
