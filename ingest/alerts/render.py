"""What an analyst receives: one message model, rendered as text, RTL HTML, Slack or JSON.

Why a stored message model: a delivery snapshots the message when it is queued, so a retry
hours later sends exactly what would have been sent first, whatever happened to the alert since.
Highlights arrive HTML-escaped from Elasticsearch (``encoder: html``) with ``<em>`` around hits.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ingest.wording import count

_TAG = re.compile(r"</?em>")
BODY_STYLE = "direction:rtl;text-align:right;font-family:Tahoma,Arial,sans-serif"
KIND_LABEL = {"alert": "تنبيه", "update": "تحديث", "digest": "موجز"}


def alert_message(alert: dict[str, Any], kind: str, new_outlets: Sequence[str], now: datetime) -> dict:
    """The message for a new alert or an update (new outlets joined the story)."""
    names = {o["id"]: o["name"] for o in alert.get("outlets", [])}
    return {"kind": kind, "rule": alert["rule"], "alert_id": alert["alert_id"],
            "version": alert["version"], "story_id": alert["story_id"], "title": alert["title"],
            "sources_count": alert["sources_count"], "outlets": list(names.values()),
            "new_outlets": [names.get(s, s) for s in new_outlets],
            "articles": alert.get("articles", []), "matched_terms": alert.get("matched_terms", []),
            "highlights": alert.get("highlights", []), "created_at": now.isoformat()}


def digest_message(rule: str, mode: str, window: tuple[datetime, datetime],
                   alerts: Sequence[dict[str, Any]], now: datetime) -> dict:
    """One message per rule, channel and window; one entry per story, newest change first."""
    stories = [{"story_id": a["story_id"], "alert_id": a["alert_id"], "title": a["title"],
                "sources_count": a["sources_count"], "outlets": [o["name"] for o in a.get("outlets", [])],
                "articles": a.get("articles", []), "matched_terms": a.get("matched_terms", [])}
               for a in sorted(alerts, key=lambda a: a.get("changed_at", ""), reverse=True)]
    return {"kind": "digest", "rule": rule, "mode": mode, "window_start": window[0].isoformat(),
            "window_end": window[1].isoformat(), "stories": stories, "created_at": now.isoformat()}


def plain(fragment: str) -> str:
    """A highlight fragment as plain text."""
    return html.unescape(_TAG.sub("", fragment))


def subject(msg: dict) -> str:
    label = KIND_LABEL[msg["kind"]]
    if msg["kind"] == "digest":
        return f"[{label}] {msg['rule']}: {len(msg['stories'])} قصص"
    return f"[{label}] {msg['rule']}: {msg['title']} ({count(msg['sources_count'])})"  # issue 14: agreement


def text(msg: dict) -> str:
    """Plain-text body (e-mail text part, log channel)."""
    if msg["kind"] == "digest":
        lines = [subject(msg), f"{msg['window_start']} → {msg['window_end']}", ""]
        for story in msg["stories"]:
            lines += _story_lines(story)
        return "\n".join(lines)
    lines = [subject(msg), *_story_lines(msg)]
    if msg.get("new_outlets") and msg["kind"] == "update":
        lines.insert(1, "مصادر جديدة: " + "، ".join(msg["new_outlets"]))
    lines += [f"… {plain(h['fragment'])} …" for h in msg.get("highlights", [])[:5]]
    return "\n".join(lines)


def _story_lines(story: dict) -> list[str]:
    lines = [f"• {story['title']}", f"  المصادر ({story['sources_count']}): " + "، ".join(story["outlets"]),
             "  الكلمات المطابقة: " + "، ".join(story.get("matched_terms", []))]
    return lines + [f"  - {a['title']} — {a['source_name']} {a['url']}" for a in story.get("articles", [])]


def html_body(msg: dict) -> str:
    """Right-to-left HTML part: ``dir="rtl"`` on the root and body, right-aligned."""
    stories = msg["stories"] if msg["kind"] == "digest" else [msg]
    parts = "".join(_story_html(s, msg.get("highlights", []) if msg["kind"] != "digest" else [])
                    for s in stories)
    title = html.escape(subject(msg))
    return (f'<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{title}</title>'
            f'</head><body dir="rtl" style="{BODY_STYLE}">'
            f"<h2>{title}</h2>{parts}</body></html>")


def _story_html(story: dict, highlights: list[dict]) -> str:
    esc = html.escape
    items = "".join(f'<li><a href="{esc(a["url"])}">{esc(a["title"])}</a> — {esc(a["source_name"])}</li>'
                    for a in story.get("articles", []))
    frags = "".join(f"<blockquote>{h['fragment']}</blockquote>" for h in highlights[:5])
    return (f"<h3>{esc(story['title'])}</h3>"
            f"<p>المصادر ({story['sources_count']}): {esc('، '.join(story['outlets']))}</p>"
            f"<p>الكلمات المطابقة: {esc('، '.join(story.get('matched_terms', [])))}</p>"
            f"<ul>{items}</ul>{frags}")


def slack(msg: dict) -> dict:
    """Slack incoming-webhook body: ``text`` (mrkdwn, subject in bold) is all Slack requires."""
    head, _, rest = _slack_escape(text(msg)).partition("\n")
    return {"text": f"*{head}*\n{rest}", "mrkdwn": True}


def _slack_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
