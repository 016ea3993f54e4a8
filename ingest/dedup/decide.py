"""Dedup decisions: exact copy, near-duplicate, same headline, same story, or new.

Why this shape (stateless, order-independent, safe with many workers):
1. every article of the batch is *registered* first (conditional create in the registry), so a
   worker deciding now sees the articles other workers are deciding at the same moment;
2. the batch is decided in a fixed order (event time, then id), never in arrival order;
3. the root of a duplicate group is chosen by one rule every worker applies alike: among matched
   articles already decided, the root decided first (``decision.order``) wins; if none is decided
   yet, the earliest article (event time, id) is the root;
4. decisions are written, made visible, and checked once more: a worker that raced another one
   without seeing it now sees it, and the same rule settles on one root.
Nothing is kept between calls; every decision records tier, score, matched id and thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest.dedup import fingerprint as fp
from ingest.dedup import registry
from ingest.dedup.queries import MIN_TITLE_WORDS, Queries, encode_weights, iso
from ingest.dedup.registry import Entry, entry_of
from ingest.dedup.similarity import weighted_story_score
from ingest.errors import StoreError
from ingest.models import Article
from ingest.settings import DedupSettings, Settings

TIER_PRIORITY = {"exact": 0, "near": 1, "title": 2}


# The knobs of one run, stored with every decision so an old decision can be audited: the settings'
# dedup group itself (``settings.dedup``), never a copy of it.
Thresholds = DedupSettings


@dataclass(frozen=True)
class Decision:
    """Why an article is (not) a copy and which story it belongs to."""

    doc_id: str
    tier: str  # exact | near | title (duplicates); story | new (not a duplicate)
    score: float
    matched_id: str
    duplicate_of: str | None
    story_id: str
    reason: str
    thresholds: dict[str, Any]
    decided_at: datetime
    order: int
    content_hash: str = ""
    title_key: str = ""
    lsh: tuple[str, ...] = ()
    n_shingles: int = 0
    sources: tuple[str, ...] = ()

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None

    def audit(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "score": round(self.score, 4),
            "matched_id": self.matched_id or None,
            "reason": self.reason,
            "thresholds": self.thresholds,
            "decided_at": self.decided_at.isoformat(),
        }

    def document_fields(self) -> dict[str, Any]:
        """Fields merged into the article's document (mappings/articles.json)."""
        return {
            "content_hash": self.content_hash or None,
            "title_key": self.title_key or None,
            "lsh": list(self.lsh),
            "duplicate_of": self.duplicate_of,
            "story_id": self.story_id,
            "sources": list(self.sources),
            "fingerprint": {
                "n_shingles": self.n_shingles,
                "shingle_size": self.thresholds.get("shingle_size"),
                "num_perm": self.thresholds.get("num_perm"),
            },
            "dedup": self.audit(),
        }

    def registry_fields(self) -> dict[str, Any]:
        return {
            **self.audit(),
            "duplicate_of": self.duplicate_of,
            "story_id": self.story_id,
            "order": self.order,
        }


@dataclass(frozen=True)
class Peer:
    """Another registered article, as this worker sees it now."""

    doc_id: str
    rank: tuple[str, str]
    decided: bool
    root: str
    story_id: str
    order: int
    entry: Entry


def entry_for(article: Article, cfg: Thresholds, now: datetime) -> dict[str, Any]:
    """The registry document of an article before it is decided."""
    site_names = tuple(n for n in (article.site_name, article.source_name) if n)
    f = fp.fingerprint(
        article.title,
        article.body,
        shingle_size=cfg.shingle_size,
        num_perm=cfg.num_perm,
        bands=cfg.lsh_bands,
        site_names=site_names,
    )
    return {
        "doc_id": article.doc_id,
        "url": article.canonical_url,
        "source_id": article.source_id,
        "source_name": article.source_name,
        "domain": article.domain,
        "sources": [article.source_id],
        "title": article.title,
        "body": article.body,
        "event_at": iso(article.published_at or article.fetched_at or now),
        "registered_at": iso(now),
        "content_hash": f.content_hash,
        "title_key": f.title_key,
        "lsh": list(f.lsh),
        "sig": f.sig_b64() if f.sig else "",
        "n_shingles": f.n_shingles,
        "state": "pending",
    }


def decision_from_registry(doc: Mapping[str, Any]) -> Decision:
    """A stored decision, as it was made (re-fetching a known URL changes nothing)."""
    d = doc["decision"]
    return Decision(
        doc_id=doc["doc_id"],
        tier=d["tier"],
        score=float(d.get("score") or 0.0),
        matched_id=d.get("matched_id") or "",
        duplicate_of=d.get("duplicate_of"),
        story_id=d["story_id"],
        reason=d.get("reason") or "",
        thresholds=d.get("thresholds") or {},
        decided_at=datetime.fromisoformat(d["decided_at"]),
        order=int(d.get("order") or 0),
        content_hash=doc.get("content_hash") or "",
        title_key=doc.get("title_key") or "",
        lsh=tuple(doc.get("lsh") or ()),
        n_shingles=int(doc.get("n_shingles") or 0),
        sources=tuple(doc.get("sources") or ()),
    )


def _peer(entry: Entry, known: Mapping[str, Decision]) -> Peer:
    d = known.get(entry.doc_id)
    if d is not None:
        return Peer(entry.doc_id, entry.rank, True, d.duplicate_of or d.doc_id, d.story_id, d.order, entry)
    if entry.decided:
        root = entry.duplicate_of or entry.doc_id
        return Peer(entry.doc_id, entry.rank, True, root, entry.story_id, entry.order, entry)
    return Peer(entry.doc_id, entry.rank, False, entry.doc_id, entry.doc_id, 0, entry)


def _match(entry: Entry, other: Entry, cfg: Thresholds) -> tuple[str, float] | None:
    """The strongest duplicate evidence between two registry entries, if any passes its threshold."""
    if entry.content_hash and entry.content_hash == other.content_hash:
        return "exact", 1.0
    j = c = 0.0
    if entry.sig and other.sig:
        j = fp.jaccard(fp.sig_from_b64(entry.sig), fp.sig_from_b64(other.sig))
        c = fp.containment(j, entry.n_shingles, other.n_shingles)
        if j >= cfg.near_jaccard or c >= cfg.near_containment:
            return "near", max(j, c)
    if _same_headline(entry, other) and _bodies_agree(entry, other, max(j, c), cfg):
        return "title", 1.0
    return None


def _same_headline(entry: Entry, other: Entry) -> bool:
    return bool(
        entry.title_key
        and entry.title_key == other.title_key
        and entry.source_id == other.source_id
        and len(entry.title_key.split()) >= MIN_TITLE_WORDS
    )


def _bodies_agree(entry: Entry, other: Entry, overlap: float, cfg: Thresholds) -> bool:
    """A recurring column title («هذا اليوم في التاريخ») over a new body is not a copy.

    Without a body on either side the headline is all there is to go on.
    """
    if not (entry.sig and other.sig):
        return True
    return overlap >= cfg.title_body_containment


def _root_orders(
    q: Queries, roots: set[str], peers: list[Peer], known: Mapping[str, Decision]
) -> dict[str, int]:
    """When each root was decided (its ``order``): the earliest-decided root wins a race."""
    orders = {p.doc_id: p.order for p in peers if p.decided and p.doc_id in roots}
    orders |= {r: known[r].order for r in roots if r in known and known[r].duplicate_of is None}
    missing = roots - orders.keys()
    for doc_id, doc in q.get_many(missing).items():
        if doc.decided:
            orders[doc_id] = doc.order
    return {r: orders.get(r, 2**62) for r in roots}


def _choose_root(
    q: Queries,
    entry: Entry,
    matches: list[tuple[Peer, str, float]],
    known: Mapping[str, Decision],
    self_order: int | None,
) -> str:
    """The root id for ``entry`` (its own id when it is the root)."""
    decided = [p for p, _, _ in matches if p.decided]
    if decided or self_order is not None:
        roots = {p.root for p in decided}
        orders = _root_orders(q, roots, [p for p, _, _ in matches], known)
        if self_order is not None:
            orders[entry.doc_id] = self_order
        if orders:
            return min(orders, key=lambda r: (orders[r], r))
    lowest = min((p for p, _, _ in matches), key=lambda p: p.rank)
    return lowest.doc_id if lowest.rank < entry.rank else entry.doc_id


def _duplicate(
    q: Queries,
    cfg: Thresholds,
    entry: Entry,
    known: Mapping[str, Decision],
    self_order: int | None,
) -> tuple[str, tuple[Peer, str, float]] | None:
    """(root id, best supporting match) when ``entry`` duplicates a registered article."""
    peers = [_peer(doc, known) for doc in q.dup_candidates(entry)]
    matches = [(p, *m) for p in peers if (m := _match(entry, p.entry, cfg)) is not None]
    if not matches:
        return None
    root = _choose_root(q, entry, matches, known, self_order)
    if root == entry.doc_id:
        return None
    support = [m for m in matches if m[0].root == root or m[0].doc_id == root] or matches
    best = min(support, key=lambda m: (TIER_PRIORITY[m[1]], -m[2], m[0].doc_id))
    return root, best


def _story_of(q: Queries, root: str, peers: list[Peer], known: Mapping[str, Decision]) -> str:
    if root in known:
        return known[root].story_id
    for p in peers:
        if p.doc_id == root and p.decided:
            return p.story_id
    doc = q.get_many([root]).get(root)
    if doc and doc.decided:
        return doc.story_id
    return root  # the root is still being decided elsewhere: it will found its own story


def _scored_peers(
    q: Queries, cfg: Thresholds, entry: Entry, known: Mapping[str, Decision]
) -> list[tuple[float, Peer]]:
    """Recent similar articles with their story score, best first (ties by id: deterministic)."""
    peers = [_peer(doc, known) for doc in q.story_candidates(entry)]
    w = q.weights([entry.doc_id, *(p.doc_id for p in peers)])
    own = w[entry.doc_id]
    return sorted(
        ((weighted_story_score(own, w[p.doc_id], cfg.story_title_weight), p) for p in peers),
        key=lambda sp: (-sp[0], sp[1].doc_id),
    )


def _story(
    q: Queries,
    cfg: Thresholds,
    entry: Entry,
    known: Mapping[str, Decision],
    *,
    own: str | None = None,
) -> tuple[str, str, float, str, list[str]]:
    """(story id, tier, score, matched id, other stories it links): join a similar recent story or
    start one.

    One rule every worker applies alike: among the stories of similar decided articles, the one
    founded earliest (event time, id) wins; with none decided, the earliest similar article still
    being decided founds it. ``own`` is a story the article already belongs to (its own, on the
    re-check of a founder; its duplicate group's, for a copy): it competes too, so two founders
    that missed each other settle on the earlier one. The other stories found are returned so the
    caller merges them into the winner: a story is every article linked to it by any member,
    whatever arrived first.
    """
    above = [(s, p) for s, p in _scored_peers(q, cfg, entry, known) if s >= cfg.story_threshold]
    stories: dict[str, tuple[float, Peer] | None] = {}
    for s, p in above:
        if p.decided:
            stories.setdefault(_founder_story(q, p.story_id, known), (s, p))
    if own is not None:
        stories.setdefault(own, None)
    if stories:
        best = _earliest_founded(q, entry, stories)
        others = sorted(i for i in stories if i != best)
        if (chosen := stories[best]) is not None:
            return best, "story", chosen[0], chosen[1].doc_id, others
        if own != entry.doc_id:
            return best, "story", 0.0, "", others
    else:
        others = []
    earlier = [(s, p) for s, p in above if not p.decided and p.rank < entry.rank]
    if earlier:
        s, p = min(earlier, key=lambda sp: sp[1].rank)
        return p.doc_id, "story", s, p.doc_id, others
    best_score, best_id = max(((s, p.doc_id) for s, p in above), default=(0.0, ""))
    return entry.doc_id, "new", best_score, best_id, others


def _merge_stories(q: Queries, winner: str, others: list[str], known: dict[str, Decision]) -> None:
    """Move the founders of ``others`` into ``winner`` when ``winner`` was founded earlier.

    A founder is moved in this batch's decisions when it is one of them (written with the batch),
    and in the registry with optimistic concurrency when it is decided there; its members follow
    it (``_founder_story``). Founders only ever move to earlier stories, so races converge.
    """
    for other in others:
        pair = {_founder_story(q, winner, known), _founder_story(q, other, known)}
        if len(pair) == 1:
            continue
        lo, hi = sorted(pair, key=lambda i: (_founder_rank(q, i), i))
        if hi in known and known[hi].story_id == hi:
            known[hi] = replace(known[hi], story_id=lo)
        for _ in range(5):
            got = registry.get_versioned(q.es, q.index, hi)
            if got is None or got[0].get("state") != "decided":
                break
            current = got[0]["decision"]["story_id"]
            if current != hi:  # another worker moved it meanwhile: link where it went instead
                if current != lo:
                    _merge_stories(q, lo, [current], known)
                break
            if (written := registry.set_story(q.es, q.index, hi, lo, got[1], got[2])) is not None:
                q.moved[hi] = written
                break


def _founder_rank(q: Queries, story_id: str) -> tuple[str, str]:
    return q.rank(story_id)


def _earliest_founded(q: Queries, entry: Entry, stories: Mapping[str, object]) -> str:
    """The story whose founder (a registered article: story id = its doc id) came first."""
    ranks = q.ranks(i for i in stories if i != entry.doc_id) | {entry.doc_id: entry.rank}
    return min(stories, key=lambda i: (ranks.get(i, ("~", i)), i))


def _founder_story(q: Queries, story_id: str, known: Mapping[str, Decision]) -> str:
    """Where the founder of ``story_id`` is now: a founder that joined an earlier story takes its
    followers along (``registry.founder``)."""

    def pointer(doc_id: str) -> str | None:
        if (d := known.get(doc_id)) is not None:
            return d.story_id
        doc = q.get_many([doc_id]).get(doc_id)
        return doc.story_id if doc is not None and doc.decided else None

    return registry.founder(story_id, pointer, q.rank)


def _recheck_story(
    q: Queries,
    cfg: Thresholds,
    entry: Entry,
    d: Decision,
    known: dict[str, Decision],
) -> Decision:
    """After writing, with every worker's decisions visible: the same story rule once more.

    Lookups read the registry only (``{}``): what other workers wrote counts as much as this batch.
    """
    if d.duplicate_of is not None:
        own = _founder_story(q, d.story_id, {})
        story, *_, others = _story(q, cfg, entry, {}, own=own)
        _merge_stories(q, story, others, known)
        return d if story == d.story_id else replace(d, story_id=story)
    own = entry.doc_id if d.tier == "new" else None
    story, tier, score, matched, others = _story(q, cfg, entry, {}, own=own)
    _merge_stories(q, story, others, known)
    if story == d.story_id:
        return d
    reason = (
        f"same story as {matched} (re-check)" if tier == "story" else _new_story_reason(cfg, score, matched)
    )
    return replace(d, story_id=story, tier=tier, score=score, matched_id=matched, reason=reason)


def _decide_one(
    q: Queries,
    cfg: Thresholds,
    entry: Entry,
    known: dict[str, Decision],
    order: int,
    previous: Decision | None = None,
) -> Decision:
    self_order = order if previous is not None and previous.duplicate_of is None else None
    base = {
        "doc_id": entry.doc_id,
        "thresholds": cfg.as_dict(),
        "decided_at": datetime.now(UTC),
        "order": order,
        "content_hash": entry.content_hash,
        "title_key": entry.title_key,
        "lsh": entry.lsh,
        "n_shingles": entry.n_shingles,
        "sources": entry.sources,
    }
    dup = _duplicate(q, cfg, entry, known, self_order)
    if dup is not None:
        root, (peer, tier, score) = dup
        if previous is not None and previous.duplicate_of == root:
            return replace(previous, order=order)  # same group: its story is re-checked next
        return _copy_decision(q, cfg, entry, known, root, (peer, tier, score), base)
    if previous is not None and previous.duplicate_of is None:
        return replace(previous, order=order)
    story, tier, score, matched, others = _story(q, cfg, entry, known)
    _merge_stories(q, story, others, known)
    reason = f"same story as {matched}" if tier == "story" else _new_story_reason(cfg, score, matched)
    return Decision(
        tier=tier, score=score, matched_id=matched, duplicate_of=None, story_id=story, reason=reason, **base
    )


def _copy_decision(
    q: Queries,
    cfg: Thresholds,
    entry: Entry,
    known: dict[str, Decision],
    root: str,
    match: tuple[Peer, str, float],
    base: Mapping[str, Any],
) -> Decision:
    """A copy joins its group; the group's story is decided from all members, so the copy runs the
    story test too: a story it links (which its group's first member may never have seen, when
    the copy arrived first) joins the group's story, the earliest-founded one winning."""
    peer, tier, score = match
    group = _founder_story(q, _story_of(q, root, [peer], known), known)
    story, _, _, via, others = _story(q, cfg, entry, known, own=group)
    _merge_stories(q, story, others, known)
    reason = f"{tier} copy of {peer.doc_id}" + ("" if peer.doc_id == root else f" (group root {root})")
    if story != group:
        reason += f"; its story links {via}"
    return Decision(
        tier=tier,
        score=score,
        matched_id=peer.doc_id,
        duplicate_of=root,
        story_id=story,
        reason=reason,
        **base,
    )


def _new_story_reason(cfg: Thresholds, score: float, matched: str) -> str:
    if matched and score >= cfg.story_threshold:
        return f"first of its story (later article {matched} is similar)"
    return "no similar article in the window"


def _stored(doc: Mapping[str, Any], d: Decision) -> dict[str, Any]:
    return {**doc, "state": "decided", "decision": d.registry_fields()}


def decide(
    es: Elasticsearch, settings: Settings, articles: Sequence[Article], moved: list[str] | None = None
) -> list[Decision]:
    """One decision per article, same order. Registers and records them in the dedup registry.

    ``moved`` collects the founders this call moved into another story (their stories merged):
    articles already indexed under them need relabelling (``stories.relabel``)."""
    index = registry.alias(settings)
    cfg = settings.dedup
    q = Queries(es, index, cfg, settings.es.shards)
    now = datetime.now(UTC)
    docs: dict[str, dict[str, Any]] = {}
    for article in articles:
        docs.setdefault(article.doc_id, entry_for(article, cfg, now))
    known: dict[str, Decision] = {}
    seq_nos: list[int] = []
    for doc_id, doc in registry.register(es, index, list(docs.values()), seq_nos).items():
        if doc.get("state") == "decided":
            known[doc_id] = _seen_again(q, doc, docs[doc_id])
    todo = sorted((entry_of(d) for i, d in docs.items() if i not in known), key=lambda e: e.rank)
    first = time.time_ns() // 1000
    q.prefetch_dups(todo)
    q.prefetch_stories(todo)
    q.prefetch_weights(todo)
    for pos, entry in enumerate(todo):
        known[entry.doc_id] = _decide_one(q, cfg, entry, known, first + pos)
        docs[entry.doc_id]["tw"] = encode_weights(q.weights([entry.doc_id])[entry.doc_id])
    batch = _Pass(docs, known)
    _write_decisions(q, [e.doc_id for e in todo], batch)
    if _raced(q, todo, known, min(seq_nos, default=-1)):
        _recheck(q, cfg, todo, batch)
    if q.moved:  # set_story does not refresh: one refresh makes every move visible
        registry.refresh(es, index)
    if moved is not None:
        moved.extend(q.moved)
    return [_resolved(q, known[a.doc_id], known) for a in articles]


@dataclass
class _Pass:
    """What one ``decide`` call holds: the registration documents, the decisions so far, and for
    each decision written, the version written and the story it named then."""

    docs: dict[str, dict[str, Any]]
    known: dict[str, Decision]
    written: dict[str, tuple[registry.Version, str]] = field(default_factory=dict)


def _raced(q: Queries, todo: list[Entry], known: Mapping[str, Decision], seq_no: int) -> bool:
    """Could another worker have decided without seeing this batch, or this batch without it?

    Only if some candidate was another worker's undecided article, or someone else wrote to the
    registry after this batch was registered. Otherwise the re-check would read exactly the
    registry this batch was decided against: it is skipped.
    """
    ours = {e.doc_id for e in todo}
    if q.saw_undecided - ours:
        return True
    return q.written_after(seq_no, ours | known.keys())


def _recheck(q: Queries, cfg: Thresholds, todo: list[Entry], batch: _Pass) -> None:
    """Decisions written and visible: every worker's, so the same rules settle races the same way."""
    known = batch.known
    changed = []
    q.prefetch_dups(todo)
    for entry in todo:
        before = known[entry.doc_id]
        after = _decide_one(q, cfg, entry, {}, before.order, previous=before)
        if after.duplicate_of != before.duplicate_of:
            known[entry.doc_id] = after
            changed.append(entry)
    _write_decisions(q, [e.doc_id for e in changed], batch)
    moved = []
    q.prefetch_stories(todo)
    for entry in todo:
        before = known[entry.doc_id]
        after = _recheck_story(q, cfg, entry, before, known)
        if after.story_id != before.story_id:
            known[entry.doc_id] = after
            moved.append(entry)
    _write_decisions(q, [e.doc_id for e in moved], batch)


def _write_decisions(q: Queries, ids: list[str], batch: _Pass) -> None:
    """Write decisions whole, each over this batch's own last write of it (``batch.written``).

    Once written, an entry can change under this batch: another worker moves a founder into an
    earlier story (``set_story``) or adds an outlet (``add_source``). A blind rewrite by the
    re-check undid such moves, splitting a story in two. A stale write re-reads the entry, keeps
    its outlets and the story it was moved to (linking the story this batch chose to it: founders
    only move to earlier stories), and writes again.
    """
    pending = ids
    for _ in range(5):
        if not pending:
            return
        over = {i: batch.written[i][0] for i in pending if i in batch.written}
        entries = [_stored(batch.docs[i], batch.known[i]) for i in pending]
        done, pending = registry.write(q.es, q.index, entries, over)
        batch.written |= {i: (v, batch.known[i].story_id) for i, v in done.items()}
        for doc_id in pending:
            _adopt(q, doc_id, batch)
    if pending:
        raise StoreError(
            f"dedup registry: {', '.join(pending)} kept changing; gave up writing their decisions",
            reason="es_conflict",
        )


def _adopt(q: Queries, doc_id: str, batch: _Pass) -> None:
    """Take what another worker changed in ``doc_id`` since this batch wrote it."""
    docs, known, written = batch.docs, batch.known, batch.written
    got = registry.get_versioned(q.es, q.index, doc_id)
    if got is None:
        raise StoreError(f"dedup registry: {doc_id} vanished while being decided")
    doc, seq_no, term = got
    theirs, mine = doc["decision"]["story_id"], known[doc_id].story_id
    docs[doc_id]["sources"] = list(doc.get("sources") or ())
    story = theirs if theirs != written[doc_id][1] else mine
    known[doc_id] = replace(known[doc_id], story_id=story, sources=tuple(docs[doc_id]["sources"]))
    written[doc_id] = ((seq_no, term), theirs)
    if story != mine and mine != doc_id:
        _merge_stories(q, theirs, [mine], known)


def _resolved(q: Queries, d: Decision, known: Mapping[str, Decision]) -> Decision:
    """The decision with its story where the story's founder is now (it may have moved on)."""
    story = _founder_story(q, d.story_id, known)
    return d if story == d.story_id else replace(d, story_id=story)


def _seen_again(q: Queries, doc: Mapping[str, Any], entry: Mapping[str, Any]) -> Decision:
    """A known URL arrives again: keep its decision; another outlet carrying it is recorded."""
    decision = decision_from_registry(doc)
    if entry["source_id"] in decision.sources:
        return decision
    sources = registry.add_source(q.es, q.index, entry["doc_id"], entry["source_id"])
    return replace(decision, sources=tuple(sources))
