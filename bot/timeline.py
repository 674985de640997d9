"""Timeline assembly (pure): stored entries and current milestones, merged, oldest first."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot import text as T
from bot.milestones import MILESTONE_LABELS, MILESTONES


@dataclass(frozen=True)
class Item:
    time: datetime  # aware, UTC
    kind: str  # log, message, milestone, severity, role, summary, impact, timezone, action, …
    text: str  # Slack-encoded
    author: str | None = None
    key: bool = False
    milestone: str | None = None
    channel_id: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    edited: bool = False
    deleted: bool = False
    files: tuple[dict, ...] = field(default_factory=tuple)
    note: str | None = None
    hidden: bool = False  # left out of drafts and exports (bot/curation.py); `timeline --json` keeps it
    entry_id: int | None = None
    permalink: str | None = None  # a message added from another channel

    def to_json(self, names: Mapping[str, str] | None = None) -> dict:
        """The `timeline --json` shape (docs/commands.md): time in UTC ending in Z, plain text."""
        return {
            "time": self.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z"),
            "kind": self.kind,
            "milestone": self.milestone,
            "author": self.author,
            "text": T.plain(self.text, names),
            "key": self.key,
            "channel": self.channel_id,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "edited": self.edited,
            "deleted": self.deleted,
            "files": list(self.files),
            "hidden": self.hidden,
        }


def milestone_text(name: str, note: str | None) -> str:
    label = MILESTONE_LABELS[name]
    return f"{T.encode(label)}: {note}" if note else T.encode(label)


def assemble(entries: Iterable, milestones: Mapping[str, object]) -> list[Item]:
    """Merge stored rows (storage.entries.TimelineRow) and current milestones into one list.

    Milestones are key items with their current time; replaced and cleared milestone times are the
    non-key history entries already among `entries`. Ties keep milestones in their natural order.
    """
    items: list[tuple[datetime, int, int, Item]] = []
    for order, name in enumerate(MILESTONES):
        m = milestones.get(name)
        if m is None:
            continue
        items.append(
            (m.at, 0, order, Item(time=m.at, kind="milestone", milestone=name, author=m.author_id,
                                   text=milestone_text(name, m.note), key=True, note=m.note))
        )
    for index, row in enumerate(entries):
        e = row.entry
        files = tuple(json.loads(e.files)) if e.files else ()
        items.append(
            (e.at, 1, index, Item(time=e.at, kind=e.kind, text=e.text, author=e.author_id, key=row.key,
                                   milestone=e.milestone, channel_id=e.channel_id, ts=e.ts,
                                   thread_ts=e.thread_ts, edited=bool(e.edited_ts or e.text_edited_by),
                                   deleted=e.deleted, files=files, hidden=e.hidden, entry_id=e.id,
                                   permalink=e.permalink))
        )
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in items]


def load(session, incident_id: int, key_emoji: str) -> list[Item]:
    """An incident's assembled timeline, read in the caller's session."""
    from storage import entries, incidents

    return assemble(entries.timeline(session, incident_id, key_emoji), incidents.milestones(session, incident_id))
