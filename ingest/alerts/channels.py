"""Delivery channels: webhook (JSON or Slack), e-mail over SMTP, log/file.

Why each send gets the delivery's idempotency key: a crash between "sent" and "recorded as sent"
can repeat a send; the key (``Idempotency-Key`` header, e-mail ``Message-ID``, JSON field) lets a
receiver drop the repeat. Errors are translated here: ``DeliveryFailed`` (try again later) or
``DeliveryRefused`` (the receiver said no for good). Channel URLs may hold tokens: never logged.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from pathlib import Path

import httpx

from ingest.alerts import render
from ingest.alerts.messages import checked
from ingest.alerts.rules import Channel
from ingest.errors import PermanentError, TransientError
from ingest.settings import Settings

log = logging.getLogger("ingest.alerts")


class DeliveryFailed(TransientError):
    """The channel could not take the message now; the delivery stays pending."""

    reason = "delivery_failed"


class DeliveryRefused(PermanentError):
    """The channel refused the message in a way a retry cannot fix (4xx, 5xx SMTP, bad auth)."""

    reason = "delivery_refused"


Sender = Callable[[Channel, dict, str, Settings], None]
# The channel registry: a rule file's channel ``type`` picks its sender by name.
SENDERS: dict[str, Sender] = {}


def register(kind: str) -> Callable[[Sender], Sender]:
    """Make ``kind`` a channel type rules files may use (``@register("webhook")``)."""
    def add(sender: Sender) -> Sender:
        SENDERS[kind] = sender
        return sender
    return add


def send(channel: Channel, msg: dict, key: str, settings: Settings) -> None:
    """Send one (checked) message through one channel; raises DeliveryFailed / DeliveryRefused."""
    sender = SENDERS.get(channel.type)
    if sender is None:
        raise DeliveryRefused(f"channel {channel.name}: no sender for type {channel.type!r}",
                              reason="unknown_channel_type")
    sender(channel, checked(msg), key, settings)


def webhook_body(channel: Channel, msg: dict, key: str) -> dict:
    if channel.format == "slack":
        return render.slack(msg)
    return {"idempotency_key": key, **msg}


@register("webhook")
def send_webhook(channel: Channel, msg: dict, key: str, settings: Settings) -> None:
    body = json.dumps(webhook_body(channel, msg, key), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key, **channel.headers}
    try:
        resp = httpx.post(str(channel.url), content=body, headers=headers,
                          timeout=settings.alerts.webhook_timeout)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook {channel.name}: {type(exc).__name__}", reason="webhook_unreachable") \
            from exc
    if resp.status_code >= 500 or resp.status_code in (408, 425, 429):
        raise DeliveryFailed(f"webhook {channel.name}: HTTP {resp.status_code}",
                             reason=f"webhook_http_{resp.status_code}")
    if resp.status_code >= 300:
        raise DeliveryRefused(f"webhook {channel.name}: HTTP {resp.status_code}",
                              reason=f"webhook_http_{resp.status_code}")


def email_message(channel: Channel, msg: dict, key: str, settings: Settings) -> EmailMessage:
    """UTF-8 MIME: RFC 2047 subject, text part, right-to-left HTML alternative."""
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["Subject"] = render.subject(msg)
    mail["From"] = settings.smtp.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{key}@ingest.alerts>"
    mail["Content-Language"] = "ar"
    mail.set_content(render.text(msg), charset="utf-8")
    mail.add_alternative(render.html_body(msg), subtype="html", charset="utf-8")
    return mail


def _smtp_open(settings: Settings) -> smtplib.SMTP:
    if settings.smtp.tls == "ssl":
        return smtplib.SMTP_SSL(settings.smtp.host, settings.smtp.port, timeout=settings.smtp.timeout,
                                context=ssl.create_default_context())
    return smtplib.SMTP(settings.smtp.host, settings.smtp.port, timeout=settings.smtp.timeout)


def _smtp_secure(smtp: smtplib.SMTP, settings: Settings) -> None:
    """STARTTLS when asked, then login when a user is configured (the password stays a SecretStr)."""
    if settings.smtp.tls == "starttls":
        smtp.starttls(context=ssl.create_default_context())
    if settings.smtp.user and settings.smtp.tls == "none" and not settings.smtp.allow_plain_auth:
        raise DeliveryRefused("SMTP login over a connection without TLS would send the password in clear; "
                              "set INGEST_SMTP_TLS=starttls|ssl (or INGEST_SMTP_ALLOW_PLAIN_AUTH=true)",
                              reason="smtp_auth_cleartext")
    if settings.smtp.user:
        password = settings.smtp.password.get_secret_value() if settings.smtp.password else ""
        smtp.login(settings.smtp.user, password)


@register("email")
def send_email(channel: Channel, msg: dict, key: str, settings: Settings) -> None:
    mail = email_message(channel, msg, key, settings)
    try:
        with _smtp_open(settings) as smtp:
            _smtp_secure(smtp, settings)
            smtp.send_message(mail)
    except UnicodeEncodeError as exc:  # smtplib sends AUTH credentials as ASCII only
        raise DeliveryRefused(f"email {channel.name}: SMTP user/password must be ASCII",
                              reason="smtp_auth_encoding") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryRefused(f"email {channel.name}: SMTP login refused ({exc.smtp_code})",
                              reason="smtp_auth") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        _raise_smtp(channel, codes[-1] if codes else 550, exc)
    except smtplib.SMTPResponseException as exc:
        _raise_smtp(channel, exc.smtp_code, exc)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"email {channel.name}: {type(exc).__name__}: {exc}",
                             reason="smtp_unreachable") from exc


def _raise_smtp(channel: Channel, code: int, exc: Exception) -> None:
    cls = DeliveryFailed if 400 <= code < 500 else DeliveryRefused
    raise cls(f"email {channel.name}: SMTP {code}", reason=f"smtp_{code}") from exc


@register("log")
def send_log(channel: Channel, msg: dict, key: str, settings: Settings) -> None:
    """Log one readable line and append the full message as a JSON line to the channel's file."""
    path: Path = channel.path or settings.alerts.log_file
    log.info("ALERT %s [%s]", render.subject(msg), key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"idempotency_key": key, **msg}, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise DeliveryFailed(f"log channel {channel.name}: cannot write {path}: {exc.strerror}",
                             reason="log_unwritable") from exc
