"""Time arithmetic for alerts: quiet hours and digest windows (pure functions, unit-tested).

Why pure: "is it quiet now?" and "which digest window just closed?" must give the same answer
on every worker, so they depend only on the rule and the ``now`` passed in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.alerts.rules import QuietHours
from ingest.errors import ConfigError

WINDOW = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
LOOKBACK = {"hourly": 24, "daily": 7}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """End of the quiet span containing ``now`` (UTC), or ``None`` when deliveries may go now."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = now.astimezone(ZoneInfo(quiet.tz))
    t = local.time().replace(tzinfo=None)
    overnight = quiet.start > quiet.end
    inside = (t >= quiet.start or t < quiet.end) if overnight else quiet.start <= t < quiet.end
    if not inside:
        return None
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end = _next_day(end, quiet.tz)
    return end.astimezone(UTC)


def _next_day(moment: datetime, tz: str) -> datetime:
    """Same wall-clock time on the next local day (DST-safe: rebuilt from the naive date)."""
    naive = moment.replace(tzinfo=None) + timedelta(days=1)
    return naive.replace(tzinfo=ZoneInfo(tz))


def window_start(mode: str, moment: datetime) -> datetime:
    """Start (UTC) of the hourly/daily window containing ``moment``."""
    moment = moment.astimezone(UTC)
    if mode == "hourly":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def closed_windows(mode: str, now: datetime) -> list[tuple[datetime, datetime]]:
    """The recent windows that have ended by ``now``, oldest first (a missed run catches up)."""
    size, current = WINDOW[mode], window_start(mode, now)
    return [(current - size * n, current - size * (n - 1)) for n in range(LOOKBACK[mode], 0, -1)]


def parse_duration(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d`` -> timedelta; anything else is a usage error naming the value."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"--since {text!r}: expected a number followed by m, h or d (e.g. 24h)")
    amount, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
