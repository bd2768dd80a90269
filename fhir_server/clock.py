"""Server time as FHIR instants, in one fixed UTC format that sorts as text."""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

_DATETIME = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)

_OWN_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def format_instant(moment: datetime) -> str:
    """``2026-11-22T05:33:43.123Z``: millisecond precision, UTC, lexically ordered."""
    t = moment.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
        f"T{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d}Z"
    )


def now_instant() -> str:
    return format_instant(datetime.now(UTC))


def parse_instant(value: str) -> datetime:
    """A FHIR date, dateTime or instant as the first moment it covers (UTC when no zone).

    Raises ValueError for anything else.
    """
    if _OWN_FORMAT.fullmatch(value):
        with suppress(ValueError):  # the server's own format (format_instant), read directly
            return datetime(
                int(value[:4]),
                int(value[5:7]),
                int(value[8:10]),
                int(value[11:13]),
                int(value[14:16]),
                int(value[17:19]),
                int(value[20:23]) * 1000,
                tzinfo=UTC,
            )
    match = _DATETIME.match(value.strip())
    if match is None:
        raise ValueError(f"not a FHIR dateTime: {value!r}")
    g = match.groupdict()
    if g["H"] is not None and g["tz"] is None and g["S"] is not None:
        tz: timezone = UTC
    elif g["tz"] in (None, "Z"):
        tz = UTC
    else:
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = (g["f"] or "0")[:6].ljust(6, "0")
    return datetime(
        int(g["y"]),
        int(g["m"] or 1),
        int(g["d"] or 1),
        int(g["H"] or 0),
        int(g["M"] or 0),
        int(g["S"] or 0),
        int(fraction),
        tzinfo=tz,
    )


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=8192)
def http_date(instant: str) -> str:
    """An RFC 9110 HTTP-date (Last-Modified) for a stored FHIR instant (cached: reads of the
    same version ask again and again). Day and month names are RFC 9110's, whatever the
    process's locale (``strftime``'s follow it)."""
    t = parse_instant(instant).astimezone(UTC)
    return (
        f"{_DAY_NAMES[t.weekday()]}, {t.day:02d} {_MONTH_NAMES[t.month - 1]} {t.year:04d}"
        f" {t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )
