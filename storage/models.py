"""Tables. Times are stored in UTC (`UTCDateTime`) and always come back timezone-aware.

Text columns hold user text in Slack's own encoding (see bot/text.py for how it is shown).
Uniqueness that protects against Slack's redeliveries lives here, as database constraints:
one entry per (channel, ts), one processed event per event_id, one milestone per name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as UTC: timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)




def _when(nullable: bool = False, index: bool = False):
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)  # the incident number, INC-<id>
    title: str = Field(sa_type=sa.Text)
    severity: str | None = Field(default=None, max_length=8)
    status: str = Field(default="open", max_length=16, index=True)  # open, mitigated, resolved
    channel_id: str | None = Field(default=None, max_length=32, index=True)
    channel_name: str | None = Field(default=None, max_length=100)
    commander_id: str | None = Field(default=None, max_length=32)
    created_by: str = Field(max_length=32)
    created_at: datetime = _when()
    display_tz: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, sa_type=sa.Text)
    impact: str | None = Field(default=None, sa_type=sa.Text)
    header_ts: str | None = Field(default=None, max_length=32)
    # one header refresh at a time per incident, across replicas (see bot/jobs.py, sync_header)
    header_lease_until: datetime | None = _when(nullable=True)
    header_lease_owner: str | None = Field(default=None, max_length=64)
    # set in the transaction that first records `resolved`: the prompts go out once
    prompts_sent_at: datetime | None = _when(nullable=True)
    # the workspace's URL (auth.test's `url`, e.g. https://acme.slack.com/), for permalinks in the draft
    workspace_url: str | None = Field(default=None, max_length=200)
    # when the commander was DMed that no postmortem draft exists (once; see bot/reminders.py)
    nudged_at: datetime | None = _when(nullable=True)
    # when the commander was last DMed to post a status update (one per interval; bot/reminders.py)
    update_reminded_at: datetime | None = _when(nullable=True)
    # when the commander was told that the tracker refused the bot's token (once; bot/jobs/trackers.py)
    tracker_alert_at: datetime | None = _when(nullable=True)


class Milestone(SQLModel, table=True):
    """The current time of one milestone of an incident (history lives in Entry)."""

    __tablename__ = "milestone"
    __table_args__ = (sa.UniqueConstraint("incident_id", "name", name="uq_milestone_incident_name"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    name: str = Field(max_length=16)
    at: datetime = _when()
    author_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_type=sa.Text)
    is_default: bool = False  # detected, set from the time of `start`
    recorded_at: datetime = _when()


class Entry(SQLModel, table=True):
    """One line of an incident's timeline: a log entry, a channel message, or a recorded change."""

    __tablename__ = "entry"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "ts", name="uq_entry_channel_ts"),
        sa.Index("ix_entry_incident_at", "incident_id", "at"),
        # a message added from another channel is stored once per incident (bot/curation.py)
        sa.Index("uq_entry_incident_source", "incident_id", "source_channel_id", "source_ts", unique=True),
        sa.Index("ix_entry_post", "post_channel_id", "post_ts"),
        # the few entries whose post is still to be queued (storage/post_sql.py): a partial index stays tiny
        sa.Index("ix_entry_to_post", "id", sqlite_where=sa.text("to_post"), postgresql_where=sa.text("to_post")),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    kind: str = Field(max_length=16)  # log, message, milestone, severity, role, summary, impact, ...
    at: datetime = _when()
    author_id: str | None = Field(default=None, max_length=32)
    text: str = Field(default="", sa_type=sa.Text)
    key: bool = False  # belongs in the postmortem timeline (messages: see KeyMark)
    milestone: str | None = Field(default=None, max_length=16)
    # channel messages only
    channel_id: str | None = Field(default=None, max_length=32)
    ts: str | None = Field(default=None, max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    edited_ts: str | None = Field(default=None, max_length=32)  # version of the text we hold
    deleted: bool = False
    files: str | None = Field(default=None, sa_type=sa.Text)  # JSON list of {name, permalink}
    recorded_at: datetime = _when()
    # curation (bot/curation.py, docs/capture.md): left out of drafts and exports, still in `timeline --json`
    hidden: bool = False
    # a person edited the text: a later Slack edit of the message no longer replaces it
    text_edited_by: str | None = Field(default=None, max_length=32)
    # the bot's post of a `/incident log` entry in the incident channel, once posted
    post_channel_id: str | None = Field(default=None, max_length=32)
    post_ts: str | None = Field(default=None, max_length=32)
    # stored by `/incident log` in its one statement: the post is still to be queued as an outbox job
    to_post: bool = False
    # a message added from another channel (`add_to_timeline`): where it was said, and its link
    source_channel_id: str | None = Field(default=None, max_length=32)
    source_ts: str | None = Field(default=None, max_length=32)
    permalink: str | None = Field(default=None, max_length=500)


class Activity(SQLModel, table=True):
    """One change to an incident's timeline or fields, with who, when, and the values before and after
    (JSON objects of the changed fields only). `/incident undo` reads it back (bot/curation.py)."""

    __tablename__ = "activity"
    __table_args__ = (sa.Index("ix_activity_incident_actor_at", "incident_id", "actor", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    entry_id: int | None = Field(default=None)  # the timeline entry it is about, if any
    actor: str = Field(max_length=32)
    action: str = Field(max_length=16)  # edit, retime, hide, show, add, undo, slack_edit, severity, ...
    before: str = Field(default="{}", sa_type=sa.Text)
    after: str = Field(default="{}", sa_type=sa.Text)
    at: datetime = _when()
    undone_at: datetime | None = _when(nullable=True)  # set when `/incident undo` put `before` back
    undoes: int | None = Field(default=None)  # on an `undo` record: the record it undid
    # set when `/incident undo` refused it (someone changed the same thing again since): the next undo
    # passes over it to the change before
    undo_skipped_at: datetime | None = _when(nullable=True)


class KeyMark(SQLModel, table=True):
    """One person's key-event reaction on one message; the latest event for it wins."""

    __tablename__ = "key_mark"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "ts", "user_id", "emoji", name="uq_key_mark"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel_id: str = Field(max_length=32)
    ts: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    emoji: str = Field(max_length=100)
    present: bool
    event_ts: str = Field(max_length=32)


class Role(SQLModel, table=True):
    __tablename__ = "role"
    __table_args__ = (sa.UniqueConstraint("incident_id", "role", name="uq_role_incident_role"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    role: str = Field(max_length=40)
    user_id: str = Field(max_length=32)
    assigned_by: str | None = Field(default=None, max_length=32)
    assigned_at: datetime = _when()


class ProcessedEvent(SQLModel, table=True):
    """Events API deliveries already applied, by Slack's event_id (redeliveries are skipped)."""

    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = _when(index=True)


class UserProfile(SQLModel, table=True):
    """What users.info told us about a person: their zone and a display name (a cache)."""

    __tablename__ = "user_profile"

    user_id: str = Field(primary_key=True, max_length=32)
    tz: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    fetched_at: datetime = _when()


class OutboxJob(SQLModel, table=True):
    """A Slack side effect to perform in the background, durably, with retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "done_at", "next_attempt_at"),
        # at most one unfinished job per idempotency key (storage.outbox_jobs.enqueue_once)
        sa.Index("uq_outbox_unfinished_key", "idempotency_key", unique=True,
                 sqlite_where=sa.text("done_at IS NULL"), postgresql_where=sa.text("done_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    payload: str = Field(default="{}", sa_type=sa.Text)  # JSON
    coalesce_key: str | None = Field(default=None, max_length=100, index=True)
    idempotency_key: str | None = Field(default=None, max_length=100)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    lease_until: datetime | None = _when(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    done_at: datetime | None = _when(nullable=True)
    failed: bool = False  # gave up after the last attempt
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _when()


# ---------------------------------------------------------------------------------------------
# After the incident: postmortem drafts, participants' answers, action items


class PostmortemDraft(SQLModel, table=True):
    """One rendered version of an incident's postmortem (`/postmortem draft` stores a new one)."""

    __tablename__ = "postmortem_draft"
    __table_args__ = (sa.UniqueConstraint("incident_id", "version", name="uq_postmortem_draft_version"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    version: int
    template: str = Field(max_length=100)
    markdown: str = Field(sa_type=sa.Text)
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = _when()
    file_id: str | None = Field(default=None, max_length=32)  # set once uploaded to the channel


class PromptAnswer(SQLModel, table=True):
    """A participant's own words for one part of the postmortem (the latest answer wins)."""

    __tablename__ = "prompt_answer"
    __table_args__ = (sa.UniqueConstraint("incident_id", "user_id", "topic", name="uq_prompt_answer"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    user_id: str = Field(max_length=32)
    topic: str = Field(max_length=32)  # root_cause, contributing_factors, went_well, went_wrong
    text: str = Field(sa_type=sa.Text)  # Slack-encoded, like every stored user text
    answered_at: datetime = _when()


class ActionItem(SQLModel, table=True):
    """Work that prevents the next outage: owner, due date, status, and the reminder state."""

    __tablename__ = "action_item"
    __table_args__ = (
        sa.Index("ix_action_item_status_due", "status", "due"),  # the reminder sweep's selection
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)  # the item number, shown as #<id>
    incident_id: int = Field(foreign_key="incident.id", index=True)
    text: str = Field(sa_type=sa.Text)  # Slack-encoded
    owner_id: str | None = Field(default=None, max_length=32)
    due: date | None = None
    status: str = Field(default="open", max_length=16)  # open, done, dropped
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = _when()
    # one item per modal submission or command, however often Slack or a person repeats it
    source_key: str | None = Field(default=None, max_length=100, unique=True)
    closed_at: datetime | None = _when(nullable=True)
    closed_by: str | None = Field(default=None, max_length=32)
    # reminders (bot/reminders.py): reminded_at is recorded once the owner's DM is sent
    snoozed_until: datetime | None = _when(nullable=True)
    reminded_at: datetime | None = _when(nullable=True)
    # its issue in the tracker (bot/jobs/trackers.py): which tracker, the key and URL, its state
    # as last seen there; tried_at is set before the first create is sent (a retry after it searches
    # first); error is what stopped the create after the last retry (shown with a Retry button)
    tracker: str | None = Field(default=None, max_length=16)
    tracker_key: str | None = Field(default=None, max_length=64)
    tracker_url: str | None = Field(default=None, max_length=500)
    tracker_state: str | None = Field(default=None, max_length=16)
    tracker_tried_at: datetime | None = _when(nullable=True)
    tracker_error: str | None = Field(default=None, sa_type=sa.Text)
    # when a poll last read its issue's state: each poll reads the least recently read first
    tracker_polled_at: datetime | None = _when(nullable=True)


class HomeViewer(SQLModel, table=True):
    """Someone who opened the bot's Home tab: their view is published again when what it shows
    changes (bot/home_tab.py), at the page of each list they last chose."""

    __tablename__ = "home_viewer"

    user_id: str = Field(primary_key=True, max_length=32)
    opened_at: datetime = _when(index=True)
    incidents_page: int = 0  # which page of the open incidents the "More" button reached (0: the first)
    items_page: int = 0  # which page of their action items


class WebSignOut(SQLModel, table=True):
    """When someone last signed out of the web view (bot/web/sessions.py): every session of theirs
    that started before then is over, a copied cookie included."""

    __tablename__ = "web_sign_out"

    user_id: str = Field(primary_key=True, max_length=32)
    signed_out_at: datetime = _when()


class WebhookDelivery(SQLModel, table=True):
    """Tracker webhook deliveries already applied, by the tracker's delivery id (a replay is skipped)."""

    __tablename__ = "webhook_delivery"

    source: str = Field(primary_key=True, max_length=16)  # github, jira
    delivery_id: str = Field(primary_key=True, max_length=100)
    received_at: datetime = _when(index=True)


class PostmortemPublication(SQLModel, table=True):
    """Where an incident's postmortem is published (POSTMORTEM_REPO): one branch and pull request,
    updated by every later publish."""

    __tablename__ = "postmortem_publication"

    incident_id: int = Field(primary_key=True, foreign_key="incident.id")
    repo: str = Field(max_length=200)
    path: str = Field(max_length=300)
    branch: str = Field(max_length=200)
    pr_number: int | None = None
    pr_url: str | None = Field(default=None, max_length=500)
    draft_version: int | None = None
    published_by: str | None = Field(default=None, max_length=32)
    published_at: datetime | None = _when(nullable=True)
