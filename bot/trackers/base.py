"""What the bot asks of an issue tracker (GitHub Issues, Jira Cloud), as plain values and one Protocol.

The outbox jobs (bot/jobs/trackers.py) and the webhook routes (bot/webhooks.py) only ever see this
interface; each tracker module (bot/trackers/github.py, bot/trackers/jira.py) implements it over
HTTP. Every call may raise one of the three errors below, and nothing else: a job turns
`TrackerRetryLater` into a retry at the tracker's time or after the outbox's backoff, whichever is
later, `TrackerAuthError` into one message to the
commander, and `TrackerError` into "could not create the tracker issue" on the item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, runtime_checkable

IssueState = Literal["open", "closed"]
CloseReason = Literal["completed", "not_planned"]


@dataclass(frozen=True)
class NewIssue:
    """One action item, as a tracker issue to create.

    `marker` is unique per item (`incident-bot:item:42`) and is embedded in the issue (GitHub: a line
    of the body; Jira: a label or the description), so that `find_by_marker` finds the issue after a
    create whose outcome is unknown (a timeout, a 5xx after the POST was sent).
    `body` is Markdown with every piece of user text already escaped (no live mention, link or HTML);
    the structured fields beside it are the same content for trackers that build their own
    document (Jira's ADF): `text` (the item, plain), `incident_ref` (INC-42), `incident_title`
    (plain), `link` (the incident channel's URL, or None).
    """

    marker: str
    title: str
    body: str
    due: date | None = None
    labels: tuple[str, ...] = ("incident",)
    owner_email: str | None = None
    owner_name: str | None = None
    text: str = ""
    incident_ref: str = ""
    incident_title: str = ""
    link: str | None = None


@dataclass(frozen=True)
class TrackerIssue:
    """An issue as the tracker knows it: its key (GitHub: the number as text, "118"; Jira: "OPS-17"),
    the URL a person opens, and whether it is open or closed."""

    key: str
    url: str
    state: IssueState = "open"


@dataclass(frozen=True)
class IssueStatus:
    """What `Tracker.states` says of one issue: open or closed, and why it was closed when the tracker
    says so (GitHub's `state_reason` not_planned or duplicate, a Jira resolution such as Won't Do:
    "not_planned"; otherwise "completed"). `reason` is None for an open issue."""

    state: IssueState
    reason: CloseReason | None = None


@dataclass(frozen=True)
class WebhookChange:
    """What one verified webhook delivery says about one issue: it is now `state`.

    `delivery_id` identifies the delivery (GitHub: X-GitHub-Delivery; Jira:
    X-Atlassian-Webhook-Identifier): a delivery seen before changes nothing. `reason` says why a
    closed issue was closed, when the tracker says so ("completed" or "not_planned"; None: unknown,
    taken as completed).
    """

    delivery_id: str
    key: str
    state: IssueState
    reason: CloseReason | None = None


class TrackerError(Exception):
    """A failure that retrying will not fix, in one line a person can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TrackerAuthError(TrackerError):
    """The tracker refused the credentials (401) or the permission (403): the message says what to fix
    (which setting, which token scope or project permission)."""


class TrackerRetryLater(TrackerError):
    """Try again in `after_seconds`: a 429, a 5xx, a secondary rate limit, a timeout or a dropped
    connection. `after_seconds` comes from the tracker (Retry-After, x-ratelimit-reset) when it said,
    else it is 0 (or a minimum such as Jira's search settling time): the outbox never retries sooner
    than its own backoff for the attempt. `ambiguous` is True when the request may have taken effect
    (a POST whose answer was lost): the caller searches by marker before creating again."""

    def __init__(self, message: str, after_seconds: float, *, ambiguous: bool = False):
        super().__init__(message)
        self.after_seconds = max(0.0, float(after_seconds))
        self.ambiguous = ambiguous


@runtime_checkable
class Tracker(Protocol):
    """One configured tracker. Implementations are thread-safe and never sleep on a rate limit:
    they raise TrackerRetryLater and the outbox waits. An implementation holding connections may
    also have `shutdown() -> None` (optional, not part of the Protocol): the bot calls it at exit."""

    name: str  # "github" or "jira"

    def create_issue(self, new: NewIssue) -> TrackerIssue:
        """Create the issue (title, body, due date, labels, owner where one maps)."""
        ...

    def find_by_marker(self, marker: str) -> TrackerIssue | None:
        """The issue created for this marker, if there is one (open or closed)."""
        ...

    def close(self, key: str, reason: CloseReason) -> None:
        """Close the issue (harmless when it is closed already)."""
        ...

    def reopen(self, key: str) -> None:
        """Reopen the issue (harmless when it is open). Not called by the bot today: Slack has no action
        that reopens an item; an item is reopened by its issue being reopened in the tracker."""
        ...

    def states(self, keys: Sequence[str]) -> dict[str, IssueStatus]:
        """The state of each of these issues, with the close reason, in as few requests as the tracker
        allows; a key the tracker does not know (deleted, moved) is left out. A poll applies these
        exactly as a webhook carrying the same state and reason would be."""
        ...

    def check(self) -> list[tuple[bool, str]]:
        """Check the configuration against the tracker: one (passed, line) per check
        (auth, repository or project, issue type, transition)."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """Whether this delivery is signed with the configured webhook secret (constant-time compare).
        `headers` has lower-case names (`x-hub-signature-256`); False when no secret is configured."""
        ...

    def webhook_change(self, headers: Mapping[str, str], body: dict) -> WebhookChange | None:
        """What a verified delivery changes (an issue closed or reopened), or None for anything else."""
        ...
