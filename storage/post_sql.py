"""Hand-written SQL for posting each `/incident log` entry in its incident channel: queue the posts of
entries stored `to_post`, then (the outbox job bot/jobs/curation_jobs.py `log_post`) read the entry with
its channel, note the channel before posting, store the post.

`/incident log` stores its entry in one statement, marked `to_post` (storage/capture_sql.py), rather than
with its job in a transaction of four: under load each statement more on the acknowledgement path
costs the process a thread hand-off and a turn of the write lock. The outbox drainer turns marked
entries into `log_post` jobs (`queue_posts`, one transaction: the mark is cleared exactly where the job
is added, so an entry is queued once however many replicas drain, and never lost).

Every log entry takes these statements once, in the same process that answers Slack, so they run on
driver cursors (storage.db.Database.reading/hot_write/hot_transaction) like storage/capture_sql.py:
through SQLAlchemy sessions they cost the process about a millisecond per entry, more than answering
the command itself (`python3 bench/ack_latency.py` shows the difference under load).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from storage.driver_sql import _for, bind_time, read_time

_ANY_TO_POST = "SELECT 1 FROM entry WHERE to_post LIMIT 1"

# The mark is cleared and returned in one statement. On PostgreSQL the rows are locked first, in id
# order, skipping those another replica is clearing (which queues them): two replicas never wait on
# each other, nor lock the same rows in two orders (a deadlock). SQLite writes one transaction at a time.
_TAKE_TO_POST = {
    "sqlite": "UPDATE entry SET to_post = :cleared WHERE to_post RETURNING id",
    "postgresql": "WITH marked AS MATERIALIZED (SELECT id FROM entry WHERE to_post ORDER BY id FOR UPDATE SKIP LOCKED) "
                  "UPDATE entry SET to_post = :cleared WHERE id IN (SELECT id FROM marked) AND to_post RETURNING id",
}

# An outbox job, as storage.outbox_jobs.enqueue stores one without a coalesce or idempotency key.
_QUEUE_JOB = """
INSERT INTO outbox (kind, payload, attempts, next_attempt_at, failed, created_at)
VALUES (:kind, :payload, 0, :now, :failed, :now)
"""

_ENTRY_TO_POST = """
SELECT entry.id, entry.incident_id, entry.at, entry.author_id, entry.text, entry.hidden, entry.text_edited_by,
       entry.post_channel_id, entry.post_ts, entry.recorded_at, incident.channel_id, incident.display_tz
FROM entry JOIN incident ON incident.id = entry.incident_id
WHERE entry.id = :entry_id
"""

# Only while it has no post: a post stored meanwhile (another attempt) is never forgotten.
_MARK_POSTING = "UPDATE entry SET post_channel_id = :channel_id WHERE id = :entry_id AND post_ts IS NULL"

_SET_POST = "UPDATE entry SET post_channel_id = :channel_id, post_ts = :ts WHERE id = :entry_id"

_SQL = {dialect: {name: _for(dialect, sql) for name, sql in
                  {"any": _ANY_TO_POST, "take": _TAKE_TO_POST[dialect], "queue": _QUEUE_JOB, "entry": _ENTRY_TO_POST,
                   "mark": _MARK_POSTING, "set": _SET_POST}.items()}
        for dialect in ("sqlite", "postgresql")}


def any_to_post(conn) -> bool:
    """Whether some entry's post is still to be queued (an index lookup: the drainer asks each round)."""
    conn.cursor.execute(_SQL[conn.dialect]["any"])
    return conn.cursor.fetchone() is not None


def queue_posts(conn, kind: str, now: datetime) -> list[int]:
    """In the caller's transaction (Database.hot_transaction): clear every `to_post` mark and add a job
    of `kind` (payload `{"entry_id": ..., "post": true}`) for each entry, in the order they were stored.
    Returns the entries' ids."""
    dialect = conn.dialect
    conn.cursor.execute(_SQL[dialect]["take"], {"cleared": False})
    ids = sorted(row[0] for row in conn.cursor.fetchall())
    if ids:
        at = bind_time(dialect, now)
        conn.cursor.executemany(_SQL[dialect]["queue"], [
            {"kind": kind, "payload": json.dumps({"entry_id": entry_id, "post": True}, separators=(",", ":")),
             "now": at, "failed": False} for entry_id in ids])
    return ids


@dataclass(frozen=True)
class EntryToPost:
    """A log entry as its post shows it (bot/curation_views.py `log_post`), where the post is, and
    where it goes: the incident's channel, in the incident's zone."""

    id: int
    incident_id: int
    at: datetime
    author_id: str | None
    text: str
    hidden: bool
    text_edited_by: str | None
    post_channel_id: str | None
    post_ts: str | None
    recorded_at: datetime
    channel_id: str | None  # the incident's channel
    display_tz: str | None  # the incident's zone


def entry_to_post(conn, entry_id: int) -> EntryToPost | None:
    """`conn` is a storage.db.Cursor. None when there is no such entry."""
    conn.cursor.execute(_SQL[conn.dialect]["entry"], {"entry_id": entry_id})
    row = conn.cursor.fetchone()
    if row is None:
        return None
    return EntryToPost(row[0], row[1], read_time(row[2]), row[3], row[4], bool(row[5]), row[6], row[7], row[8],
                       read_time(row[9]), row[10], row[11])


def mark_posting(conn, entry_id: int, channel_id: str) -> None:
    """Before a log entry is posted: its post's channel without a ts says a post may exist already
    (the post went out but its ts was not stored), so a retry looks for it before posting again."""
    conn.cursor.execute(_SQL[conn.dialect]["mark"], {"entry_id": entry_id, "channel_id": channel_id})


def set_post(conn, entry_id: int, channel_id: str, ts: str) -> None:
    conn.cursor.execute(_SQL[conn.dialect]["set"], {"entry_id": entry_id, "channel_id": channel_id, "ts": ts})
