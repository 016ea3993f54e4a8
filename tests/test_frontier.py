"""``ingest.frontier`` against the real node: discovery, host leases, entry leases, robots.txt.

Why direct tests: every worker coordinates only through these documents, so what they say after
each call (who holds a host, which sources list a URL, what is due) is the contract; the pipeline
tests see it only through whole passes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest import frontier
from ingest.errors import PermanentError, StoreUnavailable
from ingest.frontier import HostLease, HostLeases, NotYet, RobotsStore
from ingest.models import FeedItem
from ingest.settings import Settings
from ingest.urls import canonicalize

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def new_host() -> str:
    """A host of its own per test: ``HostLeases.take`` also paces the host in this process."""
    return f"h{uuid.uuid4().hex[:8]}.example"


def item(url: str, source_id: str = "afaq") -> FeedItem:
    return FeedItem(source_id=source_id, feed_url=f"https://{source_id}.example/feed.xml", url=url,
                    canonical_url=canonicalize(url), title="عنوان")


def items(host: str, n: int, source_id: str = "afaq") -> list[FeedItem]:
    return [item(f"https://{host}/news/{i:03d}.html", source_id) for i in range(n)]


def entry_doc(es: Elasticsearch, settings: Settings, doc_id: str) -> dict[str, Any]:
    return dict(es.get(index=frontier.frontier_index(settings), id=doc_id)["_source"])


def lease_doc(es: Elasticsearch, settings: Settings, host: str) -> dict[str, Any]:
    return dict(es.get(index=frontier.hosts_index(settings), id=f"lease:{host}")["_source"])


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# ---- discover --------------------------------------------------------------------------------

def test_one_url_from_two_sources_is_one_entry_listing_both_with_their_first_seen_times(
        es: Elasticsearch, settings: Settings) -> None:
    """Attribution: the article must later carry every source that listed it, fetched once."""
    url = f"https://{new_host()}/news/1.html"
    first = frontier.discover(es, settings, [item(url, "afaq")], now=NOW)
    second = frontier.discover(es, settings, [item(url, "wire")], now=later(3600))
    assert [i.url for i in first.new] == [url] and first.known == 0
    assert second.new == () and second.added == (item(url).doc_id,) and second.failed == {}
    stored = entry_doc(es, settings, item(url).doc_id)
    assert [(s["id"], datetime.fromisoformat(s["first_seen"])) for s in stored["sources"]] \
        == [("afaq", NOW), ("wire", later(3600))]
    assert stored["status"] == frontier.DISCOVERED
    (entry,) = frontier.lease_due(es, settings, frontier.host_key(url), owner="w1", now=later(3600))
    assert entry.sources == ("afaq", "wire") and entry.item.source_id == "afaq"  # fetched as first listed


def test_a_second_listing_by_the_same_source_is_known_and_writes_nothing(
        es: Elasticsearch, settings: Settings) -> None:
    """A feed lists the same URLs every poll: they must not come back as new, nor move first_seen."""
    url = f"https://{new_host()}/news/1.html"
    frontier.discover(es, settings, [item(url)], now=NOW)
    before = es.get(index=frontier.frontier_index(settings), id=item(url).doc_id)
    again = frontier.discover(es, settings, [item(url)], now=later(600))
    assert again.new == () and again.added == () and again.known == 1 and again.failed == {}
    after = es.get(index=frontier.frontier_index(settings), id=item(url).doc_id)
    assert after["_seq_no"] == before["_seq_no"] and after["_source"] == before["_source"]


def test_a_new_listing_of_a_failed_url_keeps_its_back_off(es: Elasticsearch, settings: Settings) -> None:
    """A 404 listed by one more feed gains the source but is not refetched before its TTL."""
    host = new_host()
    url = f"https://{host}/news/gone.html"
    frontier.discover(es, settings, [item(url, "afaq")], now=NOW)
    (entry,) = frontier.lease_due(es, settings, host, owner="w1", now=NOW)
    doc_id, update, _ = frontier.failed(entry, PermanentError("gone", reason="http_404"), "http_404",
                                        settings, NOW)
    frontier.record(es, settings, [(doc_id, update)])
    found = frontier.discover(es, settings, [item(url, "wire")], now=later(60))
    assert found.added == (doc_id,) and found.new == ()
    stored = entry_doc(es, settings, doc_id)
    assert stored["status"] == frontier.FAILED_PERMANENT and [s["id"] for s in stored["sources"]] == [
        "afaq", "wire"]
    assert frontier.due_hosts(es, settings, now=later(60)) == []
    assert frontier.lease_due(es, settings, host, owner="w2", now=later(60)) == []


def test_two_workers_discovering_the_same_urls_at_once_lose_no_source(
        es: Elasticsearch, settings: Settings) -> None:
    """Two polls of feeds listing the same URLs race on create and on the sources list."""
    host = new_host()
    lists = {sid: items(host, 20, sid) for sid in ("afaq", "wire")}
    start = threading.Barrier(2)

    def run(sid: str) -> frontier.Discovery:
        start.wait()
        return frontier.discover(es, settings, lists[sid], now=NOW)

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(run, ["afaq", "wire"])
    assert a.failed == {} and b.failed == {}
    new_a, new_b = {i.doc_id for i in a.new}, {i.doc_id for i in b.new}
    assert new_a | new_b == {i.doc_id for i in lists["afaq"]} and new_a & new_b == set()
    for i in lists["afaq"]:
        assert sorted(s["id"] for s in entry_doc(es, settings, i.doc_id)["sources"]) == ["afaq", "wire"]


def test_due_hosts_lists_only_hosts_with_something_to_fetch(es: Elasticsearch, settings: Settings) -> None:
    """The fetch stage is planned over this list: leased (live) and finished hosts are left out."""
    waiting, leased, finished = new_host(), new_host(), new_host()
    frontier.discover(es, settings, [*items(waiting.upper() + ":8443", 2), *items(leased, 2),
                                     *items(finished, 1)], now=NOW)
    assert len(frontier.lease_due(es, settings, leased, owner="w1", now=NOW)) == 2
    (done,) = frontier.lease_due(es, settings, finished, owner="w1", now=NOW)
    frontier.record(es, settings, [frontier.done(done.doc_id, NOW)])
    assert frontier.due_hosts(es, settings, now=later(60)) == [f"{waiting}:8443"]  # lower-cased, with port
    expired = later(settings.frontier.lease_seconds + 1)
    assert frontier.due_hosts(es, settings, now=expired) == sorted([f"{waiting}:8443", leased])


# ---- entry leases ------------------------------------------------------------------------------

def test_lease_due_hands_each_entry_to_one_owner(make_settings: Callable[..., Settings],
                                                 es: Elasticsearch) -> None:
    """Two workers on one host's backlog: each entry fetched by exactly one of them."""
    settings = make_settings(applied=True, frontier={"max_per_host": 3})
    host = new_host()
    frontier.discover(es, settings, items(host, 5), now=NOW)
    first = frontier.lease_due(es, settings, host, owner="w1", now=NOW)
    second = frontier.lease_due(es, settings, host, owner="w2", now=NOW)
    third = frontier.lease_due(es, settings, host, owner="w3", now=NOW)
    ids1, ids2 = {e.doc_id for e in first}, {e.doc_id for e in second}
    assert (len(ids1), len(ids2), third) == (3, 2, [])
    assert ids1 | ids2 == {i.doc_id for i in items(host, 5)}
    for owner, ids in (("w1", ids1), ("w2", ids2)):
        assert {entry_doc(es, settings, i)["lease_owner"] for i in ids} == {owner}


def test_lease_due_at_the_same_moment_gives_disjoint_entries(es: Elasticsearch, settings: Settings) -> None:
    """Both see the same due entries; the sequence-number guard must leave each to one of them."""
    host = new_host()
    frontier.discover(es, settings, items(host, 20), now=NOW)
    start = threading.Barrier(2)

    def run(owner: str) -> set[str]:
        start.wait()
        return {e.doc_id for e in frontier.lease_due(es, settings, host, owner=owner, now=NOW)}

    with ThreadPoolExecutor(2) as pool:
        got = dict(zip(("w1", "w2"), pool.map(run, ["w1", "w2"]), strict=True))
    assert got["w1"] & got["w2"] == set()
    for owner, ids in got.items():
        assert all(entry_doc(es, settings, i)["lease_owner"] == owner for i in ids)
    assert got["w1"] | got["w2"] == {i.doc_id for i in items(host, 20)}  # whoever lost, someone has each


# ---- host leases -------------------------------------------------------------------------------

def test_a_live_host_lease_is_refused_to_others_and_taken_once_expired(
        es: Elasticsearch, settings: Settings) -> None:
    """Politeness across workers, and a dead worker's lease is not held forever."""
    host = new_host()
    held = frontier.lease_host(es, settings, host, owner="w1", now=NOW)
    assert isinstance(held, HostLease) and held.owner == "w1"
    assert frontier.lease_host(es, settings, host, owner="w2", now=later(60)) is None
    assert isinstance(frontier.lease_host(es, settings, host, owner="w1", now=later(60)), HostLease)
    expired = later(60 + settings.frontier.lease_seconds + 1)  # w1 renewed it at +60 s
    assert frontier.lease_host(es, settings, host, owner="w2", now=later(settings.frontier.lease_seconds)) \
        is None
    taken = frontier.lease_host(es, settings, host, owner="w2", now=expired)
    assert isinstance(taken, HostLease) and lease_doc(es, settings, host)["lease_owner"] == "w2"


def test_a_stale_holder_giving_the_lease_back_leaves_the_new_holder_alone(
        es: Elasticsearch, settings: Settings) -> None:
    """A worker that outlived its lease must not free the host under the one that took it over."""
    host, ttl = new_host(), settings.frontier.lease_seconds
    stale = frontier.lease_host(es, settings, host, owner="w1", now=NOW)
    assert isinstance(stale, HostLease)
    taken = frontier.lease_host(es, settings, host, owner="w2", now=later(ttl + 1))
    assert isinstance(taken, HostLease)
    before = lease_doc(es, settings, host)
    frontier.release_host(es, settings, stale, next_request_at=123.0)
    assert lease_doc(es, settings, host) == before and before["lease_owner"] == "w2"
    assert frontier.lease_host(es, settings, host, owner="w3", now=later(ttl + 2)) is None
    frontier.release_host(es, settings, taken, next_request_at=456.0)
    assert lease_doc(es, settings, host)["lease_owner"] == ""
    assert lease_doc(es, settings, host)["next_request_at"] == 456.0


def test_a_free_lease_still_in_its_delay_is_not_yet_for_a_caller_who_can_wait(
        es: Elasticsearch, settings: Settings) -> None:
    """The worker that just gave the host back must not take it again at once and starve the others."""
    host = new_host()
    held = frontier.lease_host(es, settings, host, owner="w1", now=NOW)
    assert isinstance(held, HostLease)
    free_at = 4_000_000_000.0  # the holder's delay runs until 2096: still running whenever this runs
    frontier.release_host(es, settings, held, next_request_at=free_at)
    released = lease_doc(es, settings, host)
    asked = frontier.lease_host(es, settings, host, owner="w1", now=NOW, turn_by=free_at + 5)
    assert asked == NotYet(free_at)
    assert lease_doc(es, settings, host) == released  # asking did not take it
    # a caller that cannot wait that long takes it, and is told when its first request may start
    assert frontier.lease_host(es, settings, host, owner="w2", now=NOW, turn_by=free_at - 1) \
        == HostLease(host, "w2", free_at)
    frontier.release_host(es, settings, HostLease(host, "w2", free_at), next_request_at=free_at)
    assert frontier.lease_host(es, settings, host, owner="w3", now=NOW, turn_by=0.0) \
        == HostLease(host, "w3", free_at)


def test_take_waits_for_the_other_workers_release(es: Elasticsearch, settings: Settings) -> None:
    """A poll whose source is due now waits (bounded) for the host instead of skipping it."""
    host = new_host()
    other = frontier.lease_host(es, settings, host, owner="w1", now=NOW)
    assert isinstance(other, HostLease)
    release = threading.Timer(0.2, frontier.release_host, args=(es, settings, other),
                              kwargs={"next_request_at": 0.0})
    leases = HostLeases(es, settings, owner="w2", now=NOW)
    release.start()
    try:
        assert leases.take(host, wait=10.0) is True
    finally:
        release.join()
    assert lease_doc(es, settings, host)["lease_owner"] == "w2" and host in leases.held
    leases.release()
    assert lease_doc(es, settings, host)["lease_owner"] == "" and leases.held == {}


def test_one_lease_the_node_cannot_take_back_does_not_keep_the_others(
        es: Elasticsearch, es_url: str, settings: Settings) -> None:
    """Every request about one host's lease is cut (the node is unreachable for it): the other
    hosts are released all the same, and the failure is raised, naming the node's unavailability."""
    from servers import NodeProxy

    class CutHost(NodeProxy):
        def on_request(self, chunk: bytes) -> str:
            return self.CUT if cut and cut.encode() in chunk else self.FORWARD

    hosts = [new_host() for _ in range(3)]
    cut = ""
    proxy = CutHost(es_url)
    try:
        through = Elasticsearch(proxy.url, request_timeout=10, max_retries=0)
        leases = HostLeases(through, settings, owner="w1", now=NOW)
        assert all(leases.take(h) for h in hosts)
        cut = hosts[0]  # from now on: its lease document's id is in the request line
        with pytest.raises(StoreUnavailable):
            leases.release()
    finally:
        proxy.close()
    assert leases.held == {}
    assert [lease_doc(es, settings, h)["lease_owner"] for h in hosts] == ["w1", "", ""]


def test_take_gives_up_when_nobody_releases_within_the_wait(es: Elasticsearch, settings: Settings) -> None:
    """Bounded: a host held by a slow worker costs this poll its wait, not the whole task."""
    host = new_host()
    assert isinstance(frontier.lease_host(es, settings, host, owner="w1", now=NOW), HostLease)
    leases = HostLeases(es, settings, owner="w2", now=NOW)
    assert leases.take(host, wait=0.3) is False
    assert leases.held == {} and lease_doc(es, settings, host)["lease_owner"] == "w1"


def test_a_live_lease_is_refused_whatever_the_offset_of_the_callers_clock(
        es: Elasticsearch, settings: Settings) -> None:
    """Same instant, other offset (the expiry was once compared as text): lease_due, through
    Elasticsearch date ranges, treats it the same way."""
    host = new_host()
    assert isinstance(frontier.lease_host(es, settings, host, owner="w1", now=NOW), HostLease)
    riyadh_minute_later = later(60).astimezone(timezone(timedelta(hours=3)))  # 11:01+03:00 = 08:01Z
    assert frontier.lease_host(es, settings, host, owner="w2", now=riyadh_minute_later) is None


# ---- robots.txt ----------------------------------------------------------------------------------

def test_robots_txt_is_shared_between_workers_until_its_ttl(es: Elasticsearch, settings: Settings) -> None:
    """An empty robots.txt (a 404: no rules) is a cached answer too, not a reason to fetch again."""
    origin, ttl = f"https://{new_host()}", settings.fetch.robots_cache_ttl
    assert RobotsStore(es, settings, NOW).get(origin) is None
    RobotsStore(es, settings, NOW).put(origin, "User-agent: *\nDisallow: /private/\n")
    RobotsStore(es, settings, NOW).put(f"{origin}:8443", "")
    other_worker = RobotsStore(es, settings, later(ttl - 1))
    assert other_worker.get(origin) == "User-agent: *\nDisallow: /private/\n"
    assert other_worker.get(f"{origin}:8443") == ""
    assert RobotsStore(es, settings, later(ttl + 1)).get(origin) is None
