"""One exception tree for the whole package.

Why: the reason for a failure must survive into logs, run summaries and the audit trail, so
failure is never signalled by returning ``None``. Third-party exceptions are translated where
they enter (``raise X(...) from exc``). ``PermanentError`` means retrying cannot help (quarantine
and count it); ``TransientError`` means a later attempt may succeed (retry, back off).
Every error carries a short machine-readable ``reason`` used as a counter label.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class; ``reason`` is a short label such as ``http_404`` or ``too_large``."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class PermanentError(IngestError):
    """Retrying the same input will fail the same way."""

    reason = "permanent"


class TransientError(IngestError):
    """The same input may succeed later (network, overload, node restarting)."""

    reason = "transient"


class ConfigError(PermanentError):
    """Invalid settings, sources file or rules file; the message names file, entry and field."""

    reason = "config"


class StoreUnavailable(TransientError):
    """Elasticsearch cannot be reached; the message names the URL (never the credentials)."""

    reason = "es_unavailable"


class StoreError(PermanentError):
    """Elasticsearch answered but refused the request (mapping conflict, bad query, ...)."""

    reason = "es_error"


class StoreConflict(TransientError):
    """A concurrent writer changed the document first (version conflict); re-read and retry later."""

    reason = "es_conflict"
