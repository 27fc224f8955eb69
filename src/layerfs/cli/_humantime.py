"""Times the way docker prints them: "2 hours ago" (go-units HumanDuration)."""

from __future__ import annotations

import datetime
import time


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration: "Less than a second", "About a minute", "3 weeks"..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60 + 0.5) if s >= 60 else 0
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def parse_rfc3339(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (as in image configs), None if unparsable."""
    if not text:
        return None
    t = text.strip().replace("Z", "+00:00")
    t = _trim_fraction(t)
    try:
        when = datetime.datetime.fromisoformat(t)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def _trim_fraction(t: str) -> str:
    # Go writes up to 9 fractional digits; Python 3.11 accepts at most 6.
    dot = t.find(".")
    if dot < 0:
        return t
    end = dot + 1
    while end < len(t) and t[end].isdigit():
        end += 1
    return t[: dot + 1] + t[dot + 1 : end][:6] + t[end:]


def ago(text: str | None, now: float | None = None) -> str:
    """ "2 hours ago" for an RFC 3339 time; "N/A" if unknown."""
    when = parse_rfc3339(text)
    if when is None:
        return "N/A"
    return human_duration(max(0.0, (now or time.time()) - when)) + " ago"
