"""`<when>`: the time of an entry, and how times are shown (docs/commands.md; pure functions).

`split_when(text, now, zone)` takes the leading time tokens off a command's text:

    14:05 rolled back            -> 14:05 today (or yesterday) in `zone`, "rolled back"
    2:05pm Europe/Berlin note    -> 14:05 Berlin time
    2026-11-22 14:05 +01:00      -> that instant
    2026-11-22T14:05Z            -> that instant
    500 errors                   -> no time, "500 errors"

Something that looks like a time but is not one (`25:99`, `2026-02-30 10:00`, zone `PST`) raises
`WhenError` with a message that shows the accepted forms. All arithmetic is zoneinfo's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

ACCEPTED_FORMS = (
    "Accepted times: `14:05`, `2:05pm`, `14:05:30`, `2026-11-22 14:05` or `2026-11-22T14:05+01:00`, "
    "optionally followed by a zone: `UTC`, `+01:00` or an IANA name such as `Europe/Berlin`."
)
FUTURE_SLACK = timedelta(minutes=1)
# Backdating has no lower bound in practice, but a time must be one every zone can show (UTC±14:00).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)

_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?P<ampm>[ap]\.?m\.?)?", re.IGNORECASE)
_CLOCKISH = re.compile(r"\d{1,2}:\d{2}(:\d{2})?([ap]\.?m\.?)?", re.IGNORECASE)
_DATE = re.compile(r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})")
_ISO = re.compile(
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2})T(?P<clock>\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_AMPM = re.compile(r"[ap]\.?m\.?", re.IGNORECASE)
_OFFSET = re.compile(
    r"(?:(?:UTC|GMT)(?P<sign1>[+-])(?P<h1>\d{1,2})(?::?(?P<m1>\d{2}))?)"
    r"|(?:(?P<sign2>[+-])(?P<h2>\d{2}):?(?P<m2>\d{2}))",
    re.IGNORECASE,
)
_ZONE_AREAS = {
    "africa", "america", "antarctica", "arctic", "asia", "atlantic", "australia", "europe",
    "indian", "pacific", "etc", "us", "canada", "mexico", "brazil", "chile",
}
# Abbreviations people type but that name no single zone (PST is also Pakistan, IST three places).
_ABBREVIATIONS = {
    "PST", "PDT", "MST", "MDT", "CST", "CDT", "EST", "EDT", "AKST", "AKDT", "HST", "AST", "ADT",
    "NST", "NDT", "BST", "IST", "CET", "CEST", "EET", "EEST", "WET", "WEST", "MSK", "JST", "KST",
    "HKT", "SGT", "AEST", "AEDT", "ACST", "ACDT", "AWST", "NZST", "NZDT", "SAST", "WAT", "EAT",
    "PT", "ET", "CT", "MT",
}


class WhenError(ValueError):
    """A time the user typed that cannot be used; `str()` is the message to show them."""


def _shown(typed: str, limit: int = 40) -> str:
    """What the user typed, as quoted back in an error: short, even when the input is not."""
    return typed if len(typed) <= limit else typed[: limit - 1] + "…"


@dataclass(frozen=True)
class When:
    """A parsed `<when>`: the instant (aware, UTC) and the zone it was read in."""

    at: datetime
    zone: tzinfo
    zone_given: bool  # True when the user typed the zone or offset


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone for `name`, case-insensitively; raise WhenError if there is none."""
    names = _zone_names()
    if not names:  # neither the system's zone database nor the tzdata package: nothing is a zone
        _zone_names.cache_clear()
        raise WhenError(
            "This machine has no time zone database, so no zone name can be used: install the `tzdata` "
            "package (`pip install tzdata`) where incident-bot runs."
        )
    canonical = names.get(name.strip().lower())
    if canonical is None:
        raise WhenError(
            f"`{_shown(name)}` is not a time zone I know. Use an IANA name such as `Europe/Berlin` "
            "or `America/New_York`, or an offset like `+01:00`."
        )
    try:
        return ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - tzdata mismatch
        raise WhenError(f"`{_shown(name)}` is not a usable time zone ({exc}).") from exc


def _offset_zone(sign: str, hours: str, minutes: str) -> timezone:
    h, m = int(hours), int(minutes)
    if h > 14 or m > 59 or (h == 14 and m > 0):
        raise WhenError(f"`{sign}{hours}:{minutes}` is not a UTC offset. {ACCEPTED_FORMS}")
    delta = timedelta(hours=h, minutes=m)
    return timezone(-delta if sign == "-" else delta)


def _zone_token(token: str) -> tzinfo | None:
    """The zone a token names, None if the token is not a zone at all; WhenError if it tries to be."""
    upper = token.upper()
    if upper in {"UTC", "GMT", "Z"}:
        return UTC
    m = _OFFSET.fullmatch(token)
    if m:
        if m.group("sign1"):
            return _offset_zone(m.group("sign1"), m.group("h1"), m.group("m1") or "00")
        return _offset_zone(m.group("sign2"), m.group("h2"), m.group("m2"))
    if upper in _ABBREVIATIONS:
        raise WhenError(
            f"`{_shown(token)}` is ambiguous as a time zone. Use an IANA name such as `America/Los_Angeles` "
            f"or an offset like `-08:00`. {ACCEPTED_FORMS}"
        )
    if "/" in token and token.split("/", 1)[0].lower() in _ZONE_AREAS:
        return zone_named(token)
    return None


def _clock(token: str, ampm: str | None = None) -> time:
    """A validated clock time from `H:MM[:SS][am|pm]`; WhenError when it is not a real time."""
    m = _CLOCK.fullmatch(token)
    if not m:
        raise WhenError(f"`{_shown(token)}` is not a time. {ACCEPTED_FORMS}")
    hour, minute, second = int(m.group("h")), int(m.group("m")), int(m.group("s") or 0)
    suffix = (m.group("ampm") or ampm or "").lower().replace(".", "")
    if suffix:
        if not 1 <= hour <= 12:
            raise WhenError(f"`{_shown(token)} {suffix}`: with am/pm the hour is 1 to 12. {ACCEPTED_FORMS}")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise WhenError(f"`{_shown(token)}` is not a time of day. {ACCEPTED_FORMS}")
    return time(hour, minute, second)


def _date(token: str) -> date:
    m = _DATE.fullmatch(token)
    if not m:
        raise WhenError(f"`{_shown(token)}` is not a date. {ACCEPTED_FORMS}")
    try:
        return date(int(m.group("y")), int(m.group("mo")), int(m.group("d")))
    except ValueError:
        raise WhenError(f"`{_shown(token)}` is not a date on the calendar. {ACCEPTED_FORMS}") from None


def localize(naive: datetime, zone: tzinfo) -> datetime:
    """Attach `zone` to a wall-clock time. A time in a DST gap raises; in a fold, the earlier wins."""
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise WhenError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_display_name(zone)}: the clocks skipped "
            "it for daylight saving time. Give the time in UTC or with an offset (`+01:00`) instead."
        )
    return aware


class _Tokens:
    """Whitespace-separated tokens of a string, with the untouched remainder after any of them."""

    def __init__(self, text: str):
        self.text = text
        self.spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]

    def __getitem__(self, i: int) -> str | None:
        if i < len(self.spans):
            start, end = self.spans[i]
            return self.text[start:end]
        return None

    def rest(self, i: int) -> str:
        if i >= len(self.spans):
            return ""
        return self.text[self.spans[i][0]:].strip()


def split_when(text: str, now: datetime, zone: tzinfo) -> tuple[When | None, str]:
    """Take a leading `<when>` off `text`. Returns (When or None, the rest of the text).

    `now` is aware; `zone` is the caller's zone, used when no zone is typed.
    """
    tokens = _Tokens(text)
    first = tokens[0]
    if first is None:
        return None, ""

    used = 0
    wall_date: date | None = None
    clock: time | None = None
    fixed_zone: tzinfo | None = None
    exact: datetime | None = None

    iso = _ISO.fullmatch(first)
    if iso:
        wall_date = _date(iso.group("date"))
        clock_text = iso.group("clock")
        micro = 0
        if "." in clock_text:
            clock_text, frac = clock_text.split(".")
            micro = int(frac.ljust(6, "0"))
        clock = _clock(clock_text).replace(microsecond=micro)
        offset = iso.group("offset")
        if offset:
            fixed_zone = UTC if offset.upper() == "Z" else _zone_token(offset)
        used = 1
    elif _DATE.fullmatch(first) or re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}\S*", first):
        wall_date = _date(first)
        second = tokens[1]
        if second is None or not _CLOCKISH.fullmatch(second):
            raise WhenError(f"`{_shown(first)}` needs a time after it, as in `{_shown(first)} 14:05`. {ACCEPTED_FORMS}")
        used = 2
        ampm = None
        if tokens[2] and _AMPM.fullmatch(tokens[2]):
            ampm, used = tokens[2], 3
        clock = _clock(second, ampm)
    elif _CLOCKISH.fullmatch(first):
        used = 1
        ampm = None
        if tokens[1] and _AMPM.fullmatch(tokens[1]):
            ampm, used = tokens[1], 2
        clock = _clock(first, ampm)
    else:
        return None, text.strip()

    if fixed_zone is None and tokens[used] is not None:
        named = _zone_token(tokens[used])  # type: ignore[arg-type]
        if named is not None:
            fixed_zone = named
            used += 1

    read_zone = fixed_zone or zone
    assert clock is not None
    typed = " ".join(tokens[i] or "" for i in range(used))
    try:
        if wall_date is not None:
            exact = localize(datetime.combine(wall_date, clock), read_zone)
            if exact > now + FUTURE_SLACK:
                raise WhenError(_future(format_time(exact, read_zone)))
        else:
            exact = latest_occurrence(clock, now, read_zone)
        at = exact.astimezone(UTC)
    except OverflowError:  # the edges of the calendar: year 1 east of UTC, year 9999 west of it
        if wall_date is not None and wall_date > now.date():
            raise WhenError(_future(f"`{_shown(typed)}`")) from None
        raise WhenError(_too_early(typed)) from None
    if at < EARLIEST:
        raise WhenError(_too_early(typed))
    return When(at=at, zone=read_zone, zone_given=fixed_zone is not None), tokens.rest(used)


def _future(shown: str) -> str:
    return (f"{shown} is in the future. An entry's time can be at most a minute ahead; leave the time out to "
            "record it as now.")


def _too_early(typed: str) -> str:
    return (f"`{_shown(typed)}` is before the earliest time I can record and show in every zone, "
            f"0001-01-02 00:00 UTC. {ACCEPTED_FORMS}")


def latest_occurrence(clock: time, now: datetime, zone: tzinfo) -> datetime:
    """The latest instant at or before now + 1 minute whose wall time in `zone` is `clock`.

    23:50 typed at 00:10 is yesterday's 23:50. If today's occurrence falls in a DST gap and is not in
    the future, the time is refused; a fold takes the earlier instant.
    """
    limit = now + FUTURE_SLACK
    today = now.astimezone(zone).date()
    naive_today = datetime.combine(today, clock)
    try:
        candidate = localize(naive_today, zone)
    except WhenError:
        if naive_today.replace(tzinfo=zone).astimezone(UTC) <= limit:
            raise
        candidate = None
    if candidate is not None and candidate <= limit:
        return candidate
    return localize(datetime.combine(today - timedelta(days=1), clock), zone)


# ---------------------------------------------------------------------------------------------
# Showing times


def zone_display_name(zone: tzinfo) -> str:
    """`Europe/Berlin`, `UTC`, or `UTC+05:30` for a fixed offset."""
    key = getattr(zone, "key", None)
    if key:
        return key
    if zone is UTC:
        return "UTC"
    offset = zone.utcoffset(None)
    return "UTC" + _format_offset(offset) if offset is not None else str(zone)


def _format_offset(offset: timedelta | None) -> str:
    total = int((offset or timedelta()).total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def zone_label(at: datetime, zone: tzinfo) -> str:
    """`CET (UTC+01:00)` for an instant in a zone; `UTC` for UTC; `UTC+05:30` for a bare offset."""
    local = at.astimezone(zone)
    offset = "UTC" + _format_offset(local.utcoffset())
    name = local.tzname() or ""
    key = getattr(zone, "key", None)
    if zone is UTC or key in {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"}:
        return "UTC"
    if not name or name[0] in "+-" or name.startswith("UTC") or key is None:
        return offset
    return f"{name} ({offset})"


def format_time(at: datetime, zone: tzinfo, *, with_date: bool = True) -> str:
    """`2026-11-22 14:32 CET (UTC+01:00)`: an instant shown in a zone, always labelled."""
    local = at.astimezone(zone)
    clock = f"{local:%H:%M}" if local.second == 0 else f"{local:%H:%M:%S}"
    day = f"{local:%Y-%m-%d} " if with_date else ""
    return f"{day}{clock} {zone_label(at, zone)}"


def slack_date(at: datetime, zone: tzinfo, fmt: str = "{date_short_pretty} {time}") -> str:
    """Slack's `<!date^…>` token: each reader sees `at` in their own zone; fallback in `zone`."""
    fallback = format_time(at, zone).replace("|", "/")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def format_duration(delta: timedelta) -> str:
    """Durations as people say them: `45 s`, `12 min`, `1 h 6 min`, `1 d 0 h 11 min`."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        text = f"{days} d {hours} h {minutes} min"
    elif hours:
        text = f"{hours} h {minutes} min"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = f"{secs} s"
    return sign + text


def as_utc(at: datetime) -> datetime:
    """An aware datetime in UTC (naive input is taken to be UTC already)."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def from_slack_ts(ts: str) -> datetime:
    """Slack's message `ts` ("1700000000.000100") as an aware UTC datetime, to the microsecond."""
    seconds, _, fraction = ts.partition(".")
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime.fromtimestamp(int(seconds), UTC).replace(microsecond=micro)


DAY_NOTE_MARGIN = timedelta(hours=1)
_TYPED_DATE = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}")


def day_note(typed: str, when: When | None, began: datetime, ref: str) -> str:
    """The sentence a reply adds when a bare clock time was taken as a day more than an hour before
    the incident began (`14:05` typed at 06:47 is yesterday's 14:05): which day it took, and how to
    say another. Empty when the time carried its date, or lies within the incident."""
    if when is None or _TYPED_DATE.match(typed) or when.at >= began - DAY_NOTE_MARGIN:
        return ""
    local = when.at.astimezone(when.zone)
    clock = f"{local:%H:%M}" if local.second == 0 else f"{local:%H:%M:%S}"
    zone = f" {zone_display_name(when.zone)}" if when.zone_given else ""
    return (f"\n:calendar: Taken as {local:%a} {format_time(when.at, when.zone)}, "
            f"{format_duration(began - when.at)} before {ref} began. To mean another day, write the date "
            f"with the time, as in `{local:%Y-%m-%d} {clock}{zone}`.")
