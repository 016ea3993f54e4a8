"""The alert message as a type: what is queued, stored in the delivery and sent.

Why typed: a delivery snapshots its message and may be sent hours later by another worker; a
TypeAdapter checks the shape when the message is queued (out to Elasticsearch) and again when it
is read back to be sent (in), so a damaged or foreign document is refused with a reason instead
of failing inside a channel halfway through a send.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ingest.errors import PermanentError


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    created_at: str


class AlertMessage(_Message):
    """A new alert (``alert``) or new outlets joining its story (``update``)."""

    kind: Literal["alert", "update"]
    alert_id: str
    version: int = Field(ge=1)
    story_id: str
    title: str
    sources_count: int = Field(ge=0)
    outlets: list[str] = []
    new_outlets: list[str] = []
    articles: list[dict[str, Any]] = []
    matched_terms: list[str] = []
    highlights: list[dict[str, Any]] = []


class DigestMessage(_Message):
    """All stories of one rule that changed in one closed hourly/daily window."""

    kind: Literal["digest"]
    mode: Literal["hourly", "daily"]
    window_start: str
    window_end: str
    stories: list[dict[str, Any]]


Message = Annotated[AlertMessage | DigestMessage, Field(discriminator="kind")]
MESSAGE = TypeAdapter(Message)


class BadMessage(PermanentError):
    """A message that does not have the alert/digest shape (refused, never half-sent)."""

    reason = "bad_message"


def checked(raw: object) -> dict[str, Any]:
    """``raw`` validated as an alert or digest message, as a JSON-ready dict; else ``BadMessage``."""
    try:
        return MESSAGE.dump_python(MESSAGE.validate_python(raw), mode="json")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise BadMessage(f"not an alert message: {problems}") from exc
