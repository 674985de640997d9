"""What `/incident action` asks for, read from its text (pure).

    fix the retry storm <@U123|bob> due friday   -> text "fix the retry storm", owner U123, due Friday
    rotate keys due 2026-12-01                    -> no owner (the commander is reminded), due 1 Dec

`due <date>` counts only as the final clause; the owner is the last `<@U…>` mention before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.due_dates import looks_like_a_date, parse_due

_DUE_WORD = re.compile(r"(?:^|\s)due(?:\s+|$)", re.IGNORECASE)
_USER_TOKEN = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")


@dataclass(frozen=True)
class ActionRequest:
    """What `/incident action` asked for. `text` stays in Slack's encoding."""

    text: str
    owner_id: str | None
    due: date | None
    owner_mention: str | None = None  # the token as typed (`<@U123|bob>`), its name for the timeline


def parse_action(encoded: str, today: date) -> ActionRequest:
    """Split `<text> [<@owner>] [due <date>]`. Raises DueError for a `due` clause that is no date."""
    body, due = encoded.strip(), None
    clause = _final_due_clause(body)
    if clause is not None:
        start, date_text = clause
        due = parse_due(date_text, today)
        body = body[:start].strip()
    mentions = list(_USER_TOKEN.finditer(body))
    owner = None
    if mentions:
        last = mentions[-1]
        owner = last.group(1)
        # A mention that opens or closes the text names the owner and is not part of the sentence;
        # one in the middle (`ask <@U1> to rotate keys`) stays, so the text still reads right.
        if last.end() == len(body):
            body = body[: last.start()].strip()
        elif last.start() == 0 and len(mentions) == 1:
            body = body[last.end():].strip()
    return ActionRequest(text=body, owner_id=owner, due=due, owner_mention=mentions[-1].group(0) if mentions else None)


def _final_due_clause(text: str) -> tuple[int, str] | None:
    """(where the clause starts, its date text) when the text ends with `due <date>`."""
    found = list(_DUE_WORD.finditer(text))
    if not found:
        return None
    last = found[-1]
    rest = text[last.end():].strip()
    if not rest:
        return None  # `… payment due` is text
    words = rest.split()
    if len(words) > 4 or "<" in rest or not looks_like_a_date(words[0]):
        return None
    return last.start(), rest
