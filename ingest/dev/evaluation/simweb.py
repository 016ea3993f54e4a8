"""A simulated news web on loopback: the world the simulated-day tests and the week benchmark crawl.

Why: whether the crawler behaves over weeks (its schedule, politeness, failure memory, nothing
lost) can only be proven from the outside, by the servers it talks to. Eleven outlets on distinct
loopback addresses (127.0.0.2 ... 127.0.0.12, one host each) publish the real SaudiNewsNet texts on
a planned timeline driven by a clock the caller moves (the same ``now`` it passes to ``run_once``).
The wire agency's reports are republished by other outlets; faults are planned as well: a host
down for hours, 503 and 429 with ``Retry-After``, a feed moved with 301, a lying ETag, robots.txt
disallowing paths, dead links. Every feed honours conditional GET (304). Every request is logged
with its simulated time, its real start time and the host's concurrency at that moment; the checks
at the bottom read only that log and the plan, never the pipeline's output.

Dev tool: never imported by runtime code.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from itertools import pairwise
from pathlib import Path

import yaml

from ingest.config import Source
from ingest.dev.demo import DemoArticle, DemoSite, Outlet, article_html, feed_xml
from ingest.dev.evaluation.dedup import load_saudinewsnet
from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.extract import MIN_BODY_CHARS

OUTLETS = ("was", "alriyadh", "aljazirah", "almadina", "okaz", "alyaum", "aleqtisadiya", "aawsat",
           "alwatan", "3alyoum", "alweeam")
WIRE = "was"  # the Saudi Press Agency: other outlets republish its copy under their own URLs
SECTIONS = ("politics", "economy", "local", "world", "sports", "culture", "health", "opinion", "tech")
SOLO = "opinion"  # not carried by the outlet's "latest" feed: its articles have one source only
FEEDS = ("latest", *SECTIONS)
# Planned faults, by outlet (times are offsets into every simulated day).
DOWN = ("alriyadh", timedelta(hours=6), timedelta(hours=11))           # connections dropped
OVERLOAD = ("aljazirah", timedelta(hours=3), timedelta(hours=5), 3600)  # 503 + Retry-After, every path
THROTTLE = ("almadina-opinion", timedelta(hours=8), timedelta(hours=11), 5400)  # 429 + Retry-After
LYING = "okaz-opinion"            # ETag and Last-Modified never change, the content does
MOVED = ("alyaum-opinion", "/alyaum/opinion-v2.xml", timedelta(hours=7))  # 301 from then on
PRIVATE = ("aleqtisadiya", 0.15)  # share of its articles under a path robots.txt disallows
BROKEN = ("aawsat", 0.10, 0.05)   # shares of its links answering 404 and 410
HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = "application/rss+xml; charset=utf-8"
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class SimClock:
    """The simulated time, moved by the caller between passes (shared with the servers)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, delta: timedelta) -> datetime:
        self.now = self.now + delta
        return self.now


@dataclass(frozen=True)
class PlannedArticle:
    """One page of the plan: where and when it appears, which feeds list it, how it fails."""

    page: DemoArticle
    host: str
    section: str
    wire_of: str = ""      # path of the wire original this republishes
    broken: int = 0        # 404 or 410: listed in feeds, but the page is gone
    private: bool = False  # under a path robots.txt disallows

    @property
    def path(self) -> str:
        return self.page.path

    @property
    def published(self) -> datetime:
        return self.page.published

    @property
    def outlet(self) -> str:
        return self.page.outlet.id

    def listed_by(self) -> frozenset[str]:
        """The sources whose feeds list this article."""
        feeds = {self.section} if self.section == SOLO else {"latest", self.section}
        return frozenset(f"{self.outlet}-{f}" for f in feeds)


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    at: datetime      # simulated time
    started: float    # when the request's first bytes reached the server (kernel timestamp)
    host: str
    path: str
    status: int       # 0 = connection dropped without an answer
    in_flight: int    # requests in progress on this host at that moment, this one included
    kind: str         # robots | feed | article | other
    source_id: str = ""
    retry_after: float = 0.0
    conditional: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything the web will publish and every fault it will show, decided before the first pass."""

    start: datetime
    days: float
    articles: tuple[PlannedArticle, ...]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def published(self, until: datetime) -> list[PlannedArticle]:
        return [a for a in self.articles if a.published <= until]

    def expected(self, until: datetime) -> list[PlannedArticle]:
        """What must end up indexed: published, not dead, not disallowed by robots.txt."""
        return [a for a in self.published(until) if not a.broken and not a.private]

    def windows(self, offset_from: timedelta, offset_to: timedelta) -> list[tuple[datetime, datetime]]:
        days = int(self.days) + 1
        return [(self.start + timedelta(days=d) + offset_from, self.start + timedelta(days=d) + offset_to)
                for d in range(days)]


def build_plan(fixtures_dir: Path, *, start: datetime, days: float, per_host_day: int,
               seed: int = 11) -> Plan:
    """Deterministic for a seed: each outlet publishes ``per_host_day`` real texts a day at random
    times; about half the wire reports are republished by one or two outlets 20-180 minutes later."""
    rng = random.Random(seed)
    pools = _texts_by_outlet(fixtures_dir)
    planned: list[PlannedArticle] = []
    for index, outlet_id in enumerate(OUTLETS):
        outlet = Outlet(id=outlet_id, name=outlet_id, path=outlet_id)
        count = min(len(pools[outlet_id]), int(per_host_day * days))
        for n, (title, paragraphs) in enumerate(pools[outlet_id][:count]):
            at = start + timedelta(seconds=rng.random() * days * 86400)
            # every k-th text rather than a dice roll: a short plan still shows each fault
            private = outlet_id == PRIVATE[0] and n % round(1 / PRIVATE[1]) == 2
            broken = 0 if outlet_id != BROKEN[0] else 404 if n % round(1 / BROKEN[1]) == 3 else \
                410 if n % round(1 / BROKEN[2]) == 7 else 0
            section = SECTIONS[rng.randrange(len(SECTIONS))]
            slug = f"{'private-' if private else ''}{section}-{n:05d}"
            page = DemoArticle(outlet, slug, title, paragraphs, _second(at))
            planned.append(PlannedArticle(page, host_address(index), section, broken=broken, private=private))
    planned.extend(_republications(planned, rng))
    return Plan(start, days, tuple(sorted(planned, key=lambda a: (a.published, a.path))))


def _second(at: datetime) -> datetime:
    return at.replace(microsecond=0)  # feeds carry whole seconds (RFC 822 dates)


def _republications(planned: Sequence[PlannedArticle], rng: random.Random) -> list[PlannedArticle]:
    copies: list[PlannedArticle] = []
    others = [o for o in OUTLETS if o != WIRE]
    for original in [a for a in planned if a.outlet == WIRE]:
        if rng.random() >= 0.5:
            continue
        for outlet_id in rng.sample(others, rng.choice((1, 2))):
            if outlet_id in (PRIVATE[0], BROKEN[0]):
                continue  # keep the wire copies clear of the robots and dead-link faults
            outlet = Outlet(id=outlet_id, name=outlet_id, path=outlet_id)
            at = original.published + timedelta(minutes=rng.uniform(20, 180))
            section = original.section if original.section != SOLO else "local"
            slug = f"wire-{original.page.slug}"
            page = DemoArticle(outlet, slug, original.page.title, original.page.paragraphs, _second(at))
            copies.append(PlannedArticle(page, host_address(OUTLETS.index(outlet_id)), section,
                                         wire_of=original.path))
    return copies


def _texts_by_outlet(fixtures_dir: Path) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Real SaudiNewsNet texts per outlet, one per distinct body, in corpus order: only bodies the
    pipeline would keep (``MIN_BODY_CHARS``), so a shorter one is not counted as lost."""
    pools: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    seen: set[str] = set()
    for article in load_saudinewsnet(fixtures_dir / "arabic-news" / "saudinewsnet"):
        paragraphs = tuple(p.strip() for p in article.body.split("\n") if p.strip())
        if article.source_id not in OUTLETS or len(article.body) < MIN_BODY_CHARS or not article.title:
            continue
        if article.body in seen:
            continue
        seen.add(article.body)
        pools[article.source_id].append((article.title.strip(), paragraphs))
    return pools


def host_address(index: int) -> str:
    return f"127.0.0.{2 + index}"


def feed_path(source_id: str) -> str:
    outlet, _, feed = source_id.partition("-")
    return f"/{outlet}/{feed}.xml"


def in_window(at: datetime, windows: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(lo <= at < hi for lo, hi in windows)


@dataclass
class Trap:
    """Hold the ``after``-th request matching ``match`` (``tripped`` is set) until ``release`` is set
    or ``hold_s`` passed: the moment a test kills the crawler, seen from the server."""

    match: Callable[[Hit], bool]
    after: int = 1
    hold_s: float = 60.0
    seen: int = 0
    tripped: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class SimWeb:
    """``with SimWeb(plan, clock) as web: web.sources() ... web.hits``: one server per outlet."""

    def __init__(self, plan: Plan, clock: SimClock, *, feed_window: timedelta = timedelta(days=3),
                 feed_max_items: int = 200) -> None:
        self.plan, self.clock = plan, clock
        self.feed_window, self.feed_max_items = feed_window, feed_max_items
        self.hits: list[Hit] = []
        self.traps: list[Trap] = []
        self._lock = threading.Lock()
        self._by_path = {a.path: a for a in plan.articles}
        self._by_feed: dict[str, list[PlannedArticle]] = defaultdict(list)
        for article in plan.articles:
            for source_id in article.listed_by():
                self._by_feed[source_id].append(article)
        self.servers = [LoopbackServer(host=host_address(i)) for i in range(len(OUTLETS))]
        for index, server in enumerate(self.servers):
            server.default = self._handler(OUTLETS[index], server)
        self._down = plan.windows(DOWN[1], DOWN[2])
        self._overload = plan.windows(OVERLOAD[1], OVERLOAD[2])
        self._throttle = plan.windows(THROTTLE[1], THROTTLE[2])
        self._moved_at = plan.start + MOVED[2]

    def __enter__(self) -> SimWeb:
        for server in self.servers:
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for trap in self.traps:
            trap.release.set()
        for server in self.servers:
            server.stop()

    # ---- what the crawler is pointed at ------------------------------------------------------

    def base_url(self, outlet_id: str) -> str:
        return self.servers[OUTLETS.index(outlet_id)].base_url

    def url(self, article: PlannedArticle) -> str:
        return self.base_url(article.outlet) + article.path

    def source_ids(self) -> list[str]:
        return [f"{o}-{f}" for o in OUTLETS for f in FEEDS]

    def sources(self) -> list[Source]:
        return [Source(id=sid, name=sid, url=self.base_url(sid.partition("-")[0]) + feed_path(sid),
                       kind="feed", lang="ar", country="sa") for sid in self.source_ids()]

    def write_sources(self, path: Path) -> Path:
        entries = [s.model_dump(mode="json") for s in self.sources()]
        path.write_text(yaml.safe_dump({"sources": entries}, sort_keys=False), encoding="utf-8")
        return path

    def trap(self, match: Callable[[Hit], bool], *, after: int = 1, hold_s: float = 60.0) -> Trap:
        trap = Trap(match, after, hold_s)
        self.traps.append(trap)
        return trap

    # ---- serving -----------------------------------------------------------------------------

    def _handler(self, outlet_id: str, server: LoopbackServer) -> Callable[[Request], Route]:
        def handle(request: Request) -> Route:
            started, now = request.received, self.clock.now
            path = request.path.split("?")[0]
            route, kind, source_id = self._respond(outlet_id, server, path, request, now)
            hit = Hit(now, started, host_address(OUTLETS.index(outlet_id)), path, route.status,
                      server.in_flight, kind, source_id, float(route.headers.get("Retry-After", 0) or 0),
                      "if-none-match" in request.headers or "if-modified-since" in request.headers)
            with self._lock:
                self.hits.append(hit)
            self._spring(hit)
            return route

        return handle

    def _spring(self, hit: Hit) -> None:
        for trap in self.traps:
            if trap.tripped.is_set() or not trap.match(hit):
                continue
            with self._lock:
                trap.seen += 1
                fire = trap.seen == trap.after
            if fire:
                trap.tripped.set()
                trap.release.wait(trap.hold_s)

    def _respond(self, outlet_id: str, server: LoopbackServer, path: str, request: Request,
                 now: datetime) -> tuple[Route, str, str]:
        kind = "robots" if path == "/robots.txt" else "feed" if path.endswith(".xml") else \
            "article" if path.endswith(".html") else "other"
        source_id = self._source_of(outlet_id, path) if kind == "feed" else ""
        if outlet_id == DOWN[0] and in_window(now, self._down):
            return Route(0), kind, source_id
        if outlet_id == OVERLOAD[0] and in_window(now, self._overload):
            return Route(503, {**TEXT, "Retry-After": str(OVERLOAD[3])}, b"overloaded"), kind, source_id
        if kind == "robots":
            return Route(200, TEXT, f"User-agent: *\nDisallow: /{outlet_id}/private-\n".encode()), kind, ""
        if kind == "feed" and source_id:
            return self._feed(outlet_id, server, source_id, path, request, now), kind, source_id
        if kind == "article":
            return self._article(path, now), kind, ""
        return Route(404, TEXT, b"not found"), kind, source_id

    def _source_of(self, outlet_id: str, path: str) -> str:
        if path == MOVED[1] and outlet_id == MOVED[0].partition("-")[0]:
            return MOVED[0]
        outlet, _, rest = path.strip("/").partition("/")
        feed = rest.removesuffix(".xml")
        return f"{outlet}-{feed}" if outlet == outlet_id and feed in FEEDS else ""

    def _feed(self, outlet_id: str, server: LoopbackServer, source_id: str, path: str, request: Request,
              now: datetime) -> Route:
        if source_id == MOVED[0]:
            moved = now >= self._moved_at
            if path != MOVED[1] and moved:
                return Route(301, {**TEXT, "Location": MOVED[1]}, b"moved")
            if path == MOVED[1] and not moved:
                return Route(404, TEXT, b"not found")
        if source_id == THROTTLE[0] and in_window(now, self._throttle):
            return Route(429, {**TEXT, "Retry-After": str(THROTTLE[3])}, b"slow down")
        listed = self.listed(source_id, now)
        if source_id == LYING:
            etag, modified = '"v1"', self.plan.start
        else:
            etag = '"' + hashlib.sha1("|".join(a.path for a in listed).encode()).hexdigest()[:16] + '"'
            modified = max((a.published for a in listed), default=self.plan.start)
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        if _not_modified(request, etag, modified):
            return Route(304, headers)
        outlet = Outlet(id=outlet_id, name=outlet_id, path=outlet_id)
        body = feed_xml(DemoSite((outlet,), tuple(a.page for a in listed)), outlet, server.base_url)
        return Route(200, {**headers, "Content-Type": RSS}, body.encode("utf-8"))

    def listed(self, source_id: str, now: datetime) -> list[PlannedArticle]:
        """The feed's items at ``now``: published in the last ``feed_window``, newest first, capped."""
        items = [a for a in self._by_feed[source_id] if now - self.feed_window < a.published <= now]
        return sorted(items, key=lambda a: a.published, reverse=True)[: self.feed_max_items]

    def _article(self, path: str, now: datetime) -> Route:
        article = self._by_path.get(path)
        if article is None or article.published > now:
            return Route(404, TEXT, b"not found")
        if article.broken:
            return Route(article.broken, TEXT, b"gone")
        return Route(200, HTML, article_html(article.page).encode("utf-8"))


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """RFC 9110: If-None-Match decides when present; else If-Modified-Since."""
    if "if-none-match" in request.headers:
        return etag in [t.strip() for t in request.headers["if-none-match"].split(",")]
    since = request.headers.get("if-modified-since", "")
    if not since:
        return False
    try:
        return modified <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


# ---- checks over the server's log (pure) -----------------------------------------------------

def politeness_violations(hits: Sequence[Hit], *, concurrency: int, delay: float,
                          slack: float = 0.0) -> list[str]:
    """Per host: more than ``concurrency`` requests at once, or two starts closer than ``delay``
    (less ``slack`` for the jitter between the crawler's clock and the server reading the request)."""
    out = [f"{h.host} {h.path}: {h.in_flight} requests at once" for h in hits if h.in_flight > concurrency]
    for host, starts in _group(hits, lambda h: h.host, lambda h: h.started).items():
        ordered = sorted(starts)
        out += [f"{host}: two request starts {b - a:.3f} s apart" for a, b in pairwise(ordered)
                if b - a < delay - slack]
    return out


def robots_violations(hits: Sequence[Hit], *, ttl: timedelta) -> list[str]:
    """robots.txt fetched again (successfully) within ``ttl`` of simulated time."""
    out = []
    ok = [h for h in hits if h.kind == "robots" and h.status == 200]
    for host, times in _group(ok, lambda h: h.host, lambda h: h.at).items():
        ordered = sorted(times)
        out += [f"{host}: robots.txt at {a:%d %H:%M} and again at {b:%d %H:%M}"
                for a, b in pairwise(ordered) if b - a < ttl]
    return out


def retry_after_violations(hits: Sequence[Hit]) -> list[str]:
    """A path asked for again before the ``Retry-After`` it was given had passed."""
    out, until = [], {}
    for hit in sorted(hits, key=lambda h: (h.at, h.started)):
        key = (hit.host, hit.path)
        if key in until and hit.at < until[key]:
            out.append(f"{hit.host}{hit.path} at {hit.at:%d %H:%M}, told to wait until {until[key]:%d %H:%M}")
        if hit.retry_after:
            until[key] = hit.at + timedelta(seconds=hit.retry_after)
    return out


def refetch_violations(hits: Sequence[Hit], *, ttl: timedelta) -> list[str]:
    """A page that answered 404/410 (permanent) asked for again within ``ttl``."""
    out, gone = [], {}
    for hit in sorted(hits, key=lambda h: (h.at, h.started)):
        key = (hit.host, hit.path)
        if hit.kind == "article" and key in gone and hit.at - gone[key] < ttl:
            out.append(f"{hit.host}{hit.path} refetched {hit.at - gone[key]} after a {hit.status}")
        if hit.kind == "article" and hit.status in (404, 410):
            gone.setdefault(key, hit.at)
    return out


def polls(hits: Sequence[Hit]) -> dict[str, list[datetime]]:
    """Simulated times each source was polled (a 301 hop followed in the same pass counts once)."""
    feeds = [h for h in hits if h.kind == "feed" and h.source_id]
    return {k: sorted(set(v)) for k, v in _group(feeds, lambda h: h.source_id, lambda h: h.at).items()}


def _group(hits: Iterable[Hit], key: Callable[[Hit], str], value: Callable[[Hit], object]) -> dict:
    groups: dict[str, list] = defaultdict(list)
    for hit in hits:
        groups[key(hit)].append(value(hit))
    return groups


def day_start(at: datetime | None = None, *, days_back: int = 0) -> datetime:
    """Midnight UTC ``days_back`` days before ``at`` (default: now)."""
    at = at or datetime.now(UTC)
    return at.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)


__all__ = ["OUTLETS", "Hit", "Plan", "PlannedArticle", "SimClock", "SimWeb", "Trap", "build_plan",
           "day_start", "feed_path", "politeness_violations", "polls", "refetch_violations",
           "retry_after_violations", "robots_violations"]
