"""The one Elasticsearch boundary as the alerts package meets it: an unreachable node is
``StoreUnavailable`` from every alerts function, and a lease conflict stays with its delivery."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alerts_support import NOW, deliveries
from elasticsearch import Elasticsearch

from ingest import store
from ingest.alerts import channels, delivery, digest, state
from ingest.alerts.matching import Hit
from ingest.alerts.messages import BadMessage
from ingest.alerts.rules import Channel, Rule, parse_rules
from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.errors import StoreConflict, StoreError, StoreUnavailable
from ingest.settings import Settings, load_settings


def _dead_client() -> Elasticsearch:
    """A real client aimed at a loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Elasticsearch(f"http://127.0.0.1:{port}", max_retries=0, request_timeout=2)


def message(story: str) -> dict:
    return {"kind": "alert", "rule": "r", "alert_id": f"a{story}", "version": 1, "story_id": story,
            "title": "أرمينيا", "sources_count": 1, "created_at": NOW.isoformat()}


RULE = Rule(name="r", query="أرمينيا", channels=("hook",))
LATER = "2030-01-01T00:00:00+00:00"
HIT = Hit("d1", "s1", "t", "https://a.example/1", "a", "A", None, ("a",), (), ())


@pytest.mark.parametrize("call", [
    lambda es: state.record(es, "x-alerts", RULE, "s1", [HIT], NOW),
    lambda es: delivery.due(es, "x-deliveries", NOW),
    lambda es: delivery.history(es, "x-deliveries"),
    lambda es: delivery.queue(es, "x-deliveries", RULE, {"hook": Channel(name="hook", type="log")},
                              message("s1"), ("a", "1"), now=NOW, not_before=None),
    lambda es: digest.changed_alerts(es, "x-alerts", RULE, NOW, NOW),
], ids=["record", "due", "history", "queue", "digest"])
def test_unreachable_node_is_store_unavailable_everywhere(call: Callable[[Elasticsearch], object]) -> None:
    with pytest.raises(StoreUnavailable) as err:
        call(_dead_client())
    assert "unreachable" in str(err.value)


def test_translated_names_refusals_and_conflicts(es: Elasticsearch, settings: Settings) -> None:
    index = store.alias_name(settings.es.index_prefix, "alerts")
    with pytest.raises(StoreError) as refused, store.translated("writing junk"):
        es.index(index=index, id="x", document={"no_such_field": 1})  # dynamic: strict
    assert refused.value.reason == "es_error" and "writing junk" in str(refused.value)
    es.index(index=index, id="y", document={"rule": "r"})
    with pytest.raises(StoreConflict) as conflict, store.translated("creating twice"):
        es.create(index=index, id="y", document={"rule": "r"})
    assert conflict.value.reason == "es_conflict"


@pytest.fixture
def takeover_hook(es: Elasticsearch) -> Iterator[tuple[list[str], str, list[str]]]:
    """A webhook that, while the first delivery is being sent, lets "another worker" rewrite that
    delivery (as after a lease expiry): the sender's final conditional update must then conflict."""
    received: list[str] = []
    target: list[str] = []  # [deliveries index]

    def handle(request: Request) -> Route:
        body = json.loads(request.body)
        received.append(body["idempotency_key"])
        if len(received) == 1:
            es.update(index=target[0], id=body["idempotency_key"], doc={"claimed_at": LATER})
        return Route(200)

    with LoopbackServer(default=handle) as server:
        yield received, server.url("/hook"), target


def test_lease_conflict_does_not_abort_the_delivery_loop(es: Elasticsearch, settings: Settings,
                                                         takeover_hook: tuple[list[str], str, list[str]],
                                                         tmp_path: Path) -> None:
    received, url, target = takeover_hook
    index = store.alias_name(settings.es.index_prefix, delivery.DELIVERIES_KIND)
    target.append(index)
    channels = {"hook": Channel(name="hook", type="webhook", url=url)}
    for n in ("1", "2"):
        delivery.queue(es, index, RULE, channels, message(n), ("alert", n), now=NOW,
                       not_before=None)
    counts = delivery.deliver_due(es, index, channels, settings, NOW)
    assert counts == {"claim_lost": 1, "sent": 1}
    assert len(received) == 2  # the second delivery went out although the first one conflicted
    statuses = sorted(d["status"] for d in deliveries(es, settings))
    assert statuses == ["sending", "sent"]  # the taken-over one stays with its new owner



def test_channel_types_come_from_the_registry(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []

    @channels.register("test-pager")
    def page(channel: Channel, msg: dict, key: str, settings: Settings) -> None:
        calls.append((channel.name, msg["title"]))

    try:
        ruleset = parse_rules({"channels": {"p": {"type": "test-pager"}, "q": {"type": "carrier-pigeon"}},
                               "rules": [{"name": "r", "query": "x", "channels": ["p"]}]})
        assert [p.reason for p in ruleset.problems] == ["bad_channel"]
        assert "carrier-pigeon" in ruleset.problems[0].message
        channels.send(ruleset.channels["p"], message("s1"), "k", load_settings())
        assert calls == [("p", "أرمينيا")]
    finally:
        channels.SENDERS.pop("test-pager")


def test_messages_are_checked_on_the_way_out_and_in(es: Elasticsearch, settings: Settings,
                                                    tmp_path: Path) -> None:
    index = store.alias_name(settings.es.index_prefix, delivery.DELIVERIES_KIND)
    log_channel = {"log": Channel(name="log", type="log", path=tmp_path / "a.jsonl")}
    rule = Rule(name="r", query="x", channels=("log",))
    with pytest.raises(BadMessage):
        delivery.queue(es, index, rule, log_channel, {"kind": "alert", "story_id": "s"}, ("a",), now=NOW,
                       not_before=None)
    delivery.queue(es, index, rule, log_channel, message("s1"), ("b",), now=NOW, not_before=None)
    [stored] = deliveries(es, settings)
    es.update(index=index, id=stored["delivery_id"], doc={"message": {"kind": "alert", "title": 3}},
              refresh=True)  # damaged by hand or by an older version
    assert delivery.deliver_due(es, index, log_channel, settings, NOW) == {"failed": 1}
    [failed] = deliveries(es, settings)
    assert failed["error_reason"] == "bad_message" and not (tmp_path / "a.jsonl").exists()
