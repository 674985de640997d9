"""Due dates of action items (pure): `today`, `tomorrow`, `in 3 days`, `friday`, `2026-12-01`.

Dates are read in the caller's zone: `today` is their today (see `local_today`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo

from bot.when import WhenError

DUE_FORMS = (
    "Accepted due dates: `2026-12-01` (YYYY-MM-DD), `today`, `tomorrow`, `in 3 days`, "
    "or a weekday such as `friday` (its next occurrence)."
)
MAX_DAYS_AHEAD = 3650

WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}
# Words that show the user meant a date, so a bad one is refused rather than kept as text: `due next
# week` is refused with the accepted forms, `due diligence review` is just text.
_DATE_LIKE = re.compile(
    r"\d.*|today|tomorrow|tmrw|tonight|in|on|by|next|this|end|eod|eow|eom|eoy|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|"
    r"january|february|march|april|june|july|august|september|october|november|december|"
    + "|".join(WEEKDAYS),
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_IN_DAYS = re.compile(r"in (\d{1,6}) days?")


class DueError(WhenError):
    """A due date that cannot be used; `str()` is the message to show."""


def looks_like_a_date(word: str) -> bool:
    """Whether a word that follows `due` starts a date (good or bad) rather than ordinary text."""
    return bool(_DATE_LIKE.fullmatch(word))


def parse_due(text: str, today: date) -> date:
    """The date `text` names, with `today` being the caller's local date."""
    words = " ".join(text.lower().split())
    if words == "today":
        return today
    if words == "tomorrow":
        return today + timedelta(days=1)
    m = _IN_DAYS.fullmatch(words)
    if m:
        days = int(m.group(1))
        if days > MAX_DAYS_AHEAD:
            raise DueError(f"`{text}` is more than ten years away. {DUE_FORMS}")
        return today + timedelta(days=days)
    if words in WEEKDAYS:
        ahead = (WEEKDAYS[words] - today.weekday()) % 7
        return today + timedelta(days=ahead or 7)  # `friday` on a Friday is next week's
    m = _ISO_DATE.fullmatch(words)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise DueError(f"`{text}` is not a date on the calendar. {DUE_FORMS}") from None
    raise DueError(f"`{text}` is not a due date I understand. {DUE_FORMS}")


def local_today(now: datetime, zone: tzinfo) -> date:
    return now.astimezone(zone).date()


def describe_due(due: date | None, today: date) -> str:
    """`Fri 2026-11-27`, with how it relates to today: `(today)`, `(3 days overdue)`."""
    if due is None:
        return "no due date"
    shown = f"{due:%a %Y-%m-%d}"
    days = (today - due).days
    if days == 0:
        return shown + " (today)"
    if days == 1:
        return shown + " (1 day overdue)"
    if days > 1:
        return shown + f" ({days} days overdue)"
    return shown
