"""Channels against real loopback receivers: a stdlib HTTP server and an aiosmtpd SMTP server."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Callable, Iterator
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from alerts_support import NOW, article, deliveries, index_articles, write_rules
from elasticsearch import Elasticsearch

from ingest.alerts import evaluate
from ingest.alerts.channels import DeliveryFailed, DeliveryRefused, send
from ingest.alerts.rules import Channel
from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.settings import Settings, load_settings

MSG = {"kind": "alert", "rule": "حدود-أرمينيا", "alert_id": "a1", "version": 1, "story_id": "s1",
       "title": "اشتباكات على الحدود بين أرمينيا وأذربيجان", "sources_count": 2,
       "outlets": ["صحيفة الأولى", "وكالة الثانية"], "new_outlets": [],
       "articles": [{"id": "d1", "title": "اشتباكات على الحدود", "url": "https://a.example/1",
                     "source_id": "a", "source_name": "صحيفة الأولى", "published_at": None}],
       "matched_terms": ["أرمينيا", "اشتباكات"],
       "highlights": [{"article_id": "d1", "field": "body", "fragment": "<em>اشتباكات</em> &amp; قصف"}],
       "created_at": NOW.isoformat()}


class Receiver:
    """A webhook receiver that answers 500 to the first ``fail_first`` requests, then 200."""

    def __init__(self) -> None:
        self.fail_first = 0
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Route:
        raw = request.body
        entry = {"path": request.path, "headers": request.headers, "raw": raw,
                 "json": json.loads(raw.decode("utf-8"))}
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) <= self.fail_first:
                return Route(500)
            self.accepted.append(entry)
            return Route(200)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    with LoopbackServer(default=state.handle) as server:
        yield state, server.url("/hook")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "raw": envelope.content})
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _authenticator(server: object, session: object, envelope: object, mechanism: str,
                   data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"desk", b"s3cret-123")
    return AuthResult(success=ok, handled=False)  # handled=False: server answers 535


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Mailbox, int]]]:
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> tuple[Mailbox, int]:
        box, port = Mailbox(), _free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return box, port

    yield start
    for controller in controllers:
        controller.stop()


def _cfg(**overrides: Any) -> Settings:
    return load_settings(alerts={"retry_wait": 0}, **overrides)


def test_webhook_json_payload_is_utf8_with_idempotency_key(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    send(Channel(name="hook", type="webhook", url=url, headers={"X-Desk": "1"}), MSG, "key-1", _cfg())
    [got] = state.accepted
    assert got["headers"]["idempotency-key"] == "key-1"
    assert got["headers"]["x-desk"] == "1"
    assert got["headers"]["content-type"] == "application/json; charset=utf-8"
    assert "أرمينيا".encode() in got["raw"]  # raw UTF-8, not \u escapes
    assert got["json"]["idempotency_key"] == "key-1"
    assert got["json"]["title"] == MSG["title"]
    assert got["json"]["matched_terms"] == ["أرمينيا", "اشتباكات"]


def test_webhook_slack_format(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    send(Channel(name="slack", type="webhook", url=url, format="slack"), MSG, "key-2", _cfg())
    body = state.accepted[0]["json"]
    assert set(body) == {"text", "mrkdwn"}
    first, rest = body["text"].split("\n", 1)
    assert first == f"*[تنبيه] حدود-أرمينيا: {MSG['title']} (مصدران)*"
    assert "صحيفة الأولى، وكالة الثانية" in rest
    assert "اشتباكات &amp; قصف" in rest and "<em>" not in rest  # Slack escaping, tags stripped


def test_webhook_errors_are_classified(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_first = 1
    with pytest.raises(DeliveryFailed) as failed:
        send(Channel(name="hook", type="webhook", url=url), MSG, "k", _cfg())
    assert failed.value.reason == "webhook_http_500"
    closed = f"http://127.0.0.1:{_free_port()}/hook"
    with pytest.raises(DeliveryFailed) as unreachable:
        send(Channel(name="hook", type="webhook", url=closed), MSG, "k", _cfg())
    assert unreachable.value.reason == "webhook_unreachable"


def test_webhook_4xx_is_refused_for_good() -> None:
    with LoopbackServer(default=Route(404)) as server, pytest.raises(DeliveryRefused) as refused:
        send(Channel(name="hook", type="webhook", url=server.url("/")), MSG, "k", _cfg())
    assert refused.value.reason == "webhook_http_404"


def test_email_arabic_subject_and_bodies_decode(smtp_server: Callable[..., tuple[Mailbox, int]]) -> None:
    box, port = smtp_server()
    cfg = _cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_from="alerts@desk.example")
    send(Channel(name="mail", type="email", to=("analyst@desk.example",)), MSG, "key-3", cfg)
    [got] = box.messages
    assert got["to"] == ["analyst@desk.example"]
    raw: bytes = got["raw"]
    subject_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert subject_line.isascii() and b"=?utf-8?" in subject_line.lower()  # RFC 2047 encoded word
    mail = email.message_from_bytes(raw, policy=default_policy)
    assert mail["Subject"] == f"[تنبيه] حدود-أرمينيا: {MSG['title']} (مصدران)"
    assert mail["Message-ID"] == "<key-3@ingest.alerts>"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert "الكلمات المطابقة: أرمينيا، اشتباكات" in plain.get_content()
    assert "… اشتباكات & قصف …" in plain.get_content()
    html_text = html.get_content()
    assert '<html lang="ar" dir="rtl">' in html_text and '<body dir="rtl"' in html_text
    assert "<blockquote><em>اشتباكات</em> &amp; قصف</blockquote>" in html_text


def test_email_login_and_refused_login(smtp_server: Callable[..., tuple[Mailbox, int]]) -> None:
    box, port = smtp_server(auth_require_tls=False, authenticator=_authenticator)
    channel = Channel(name="mail", type="email", to=("a@desk.example",))
    cfg = _cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_user="desk", smtp_password="s3cret-123",
               smtp_allow_plain_auth=True)
    send(channel, MSG, "k", cfg)
    assert len(box.messages) == 1
    arabic = _cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_user="desk", smtp_password="سر-123",
                  smtp_allow_plain_auth=True)
    with pytest.raises(DeliveryRefused) as not_ascii:
        send(channel, MSG, "k", arabic)
    assert not_ascii.value.reason == "smtp_auth_encoding"
    wrong = _cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_user="desk", smtp_password="wrong",
                 smtp_allow_plain_auth=True)
    with pytest.raises(DeliveryRefused) as refused:
        send(channel, MSG, "k", wrong)
    assert refused.value.reason == "smtp_auth"
    assert "wrong" not in str(refused.value)
    assert len(box.messages) == 1


class AuthSpy:
    """Records every SMTP AUTH attempt the server receives (the password would be in it)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, server: object, session: object, envelope: object, mechanism: str,
                 data: Any) -> AuthResult:
        self.attempts.append(mechanism)
        return AuthResult(success=True)


def test_email_refuses_auth_without_tls_by_default(smtp_server: Callable[..., tuple[Mailbox, int]]) -> None:
    spy = AuthSpy()
    box, port = smtp_server(auth_require_tls=False, authenticator=spy)
    cfg = _cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_user="desk", smtp_password="s3cret-123")
    with pytest.raises(DeliveryRefused) as refused:
        send(Channel(name="mail", type="email", to=("a@desk.example",)), MSG, "k", cfg)
    assert refused.value.reason == "smtp_auth_cleartext" and "s3cret" not in str(refused.value)
    assert spy.attempts == [] and box.messages == []


def test_email_server_down_is_transient() -> None:
    cfg = _cfg(smtp_host="127.0.0.1", smtp_port=_free_port(), smtp_timeout=2)
    with pytest.raises(DeliveryFailed) as failed:
        send(Channel(name="mail", type="email", to=("a@desk.example",)), MSG, "k", cfg)
    assert failed.value.reason == "smtp_unreachable"


def test_log_channel_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "alerts.jsonl"
    send(Channel(name="log", type="log", path=path), MSG, "k1", _cfg())
    send(Channel(name="log", type="log", path=path), MSG, "k2", _cfg())
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert [x["idempotency_key"] for x in lines] == ["k1", "k2"]
    assert lines[0]["title"] == MSG["title"]


def test_log_channel_unwritable_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(DeliveryFailed) as failed:
        send(Channel(name="log", type="log", path=blocker / "alerts.jsonl"), MSG, "k", _cfg())
    assert failed.value.reason == "log_unwritable"


# ---- through evaluate(): real node + real receivers -------------------------------------------

@pytest.fixture
def alert_settings(make_settings: Callable[..., Settings], es: Elasticsearch,
                   tmp_path: Path) -> Callable[..., Settings]:
    def factory(rules: list[dict], channels: dict, **overrides: Any) -> Settings:
        path = write_rules(tmp_path / "rules.yaml", rules, channels)
        cfg = make_settings(applied=True, **overrides,
                            alerts={"rules_file": path, "retry_wait": 0, "log_file": tmp_path / "log.jsonl"})
        return cfg
    return factory


ARMENIA = article("d1", "أرمينيا تعلن اشتباكات على الحدود", "قالت وزارة الدفاع الأرمينية إن اشتباكات "
                  "اندلعت على الحدود مع أذربيجان.", source="outlet-a")


def test_receiver_that_fails_then_recovers_gets_the_alert_exactly_once(
        receiver: tuple[Receiver, str], alert_settings: Callable[..., Settings], es: Elasticsearch) -> None:
    state, url = receiver
    state.fail_first = 3
    cfg = alert_settings([{"name": "armenia", "query": "أرمينيا", "channels": ["hook"]}],
                         {"hook": {"type": "webhook", "url": url}}, alert_retry_attempts=2)
    ids = index_articles(es, cfg, [ARMENIA])

    first = evaluate(cfg, ids, now=NOW)
    assert first.deliveries == {"queued": 1, "pending": 1}
    [kept] = deliveries(es, cfg)
    assert (kept["status"], kept["attempts"], kept["error_reason"]) == ("pending", 2, "webhook_http_500")
    assert kept["article_ids"] == ["d1"] and kept["rule"] == "armenia" and kept["channel"] == "hook"
    assert len(state.requests) == 2 and state.accepted == []

    second = evaluate(cfg, [], now=NOW)  # next run: the kept delivery is retried, 1 more failure, then OK
    assert second.deliveries == {"sent": 1}
    third = evaluate(cfg, ids, now=NOW)  # the same batch again: nothing new to send
    assert third.deliveries.get("sent", 0) == 0 and third.alerts == {"unchanged": 1}

    assert len(state.accepted) == 1 and len(state.requests) == 4
    key = state.accepted[0]["headers"]["idempotency-key"]
    [done] = deliveries(es, cfg)
    assert (done["status"], done["attempts"], done["delivery_id"]) == ("sent", 4, key)
    assert done["sent_at"] and done["last_error"] is None


def test_alert_by_email_and_webhook_from_evaluate(receiver: tuple[Receiver, str], es: Elasticsearch,
                                                  smtp_server: Callable[..., tuple[Mailbox, int]],
                                                  alert_settings: Callable[..., Settings]) -> None:
    state, url = receiver
    box, port = smtp_server()
    cfg = alert_settings([{"name": "حدود", "query": "اشتباك AND الحدود", "channels": ["hook", "mail"]}],
                         {"hook": {"type": "webhook", "url": url},
                          "mail": {"type": "email", "to": ["desk@desk.example"]}},
                         smtp_host="127.0.0.1", smtp_port=port)
    report = evaluate(cfg, index_articles(es, cfg, [ARMENIA]), now=NOW)
    assert report.deliveries == {"queued": 2, "sent": 2}
    payload = state.accepted[0]["json"]
    assert (payload["rule"], payload["story_id"], payload["sources_count"]) == ("حدود", "d1", 1)
    assert "اشتباكات" in payload["matched_terms"]
    mail = email.message_from_bytes(box.messages[0]["raw"], policy=default_policy)
    assert mail["Subject"] == "[تنبيه] حدود: أرمينيا تعلن اشتباكات على الحدود (مصدر واحد)"
    assert "<em>اشتباكات</em>" in mail.get_body(("html",)).get_content()
