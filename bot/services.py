"""What listeners, jobs and the CLI share: settings, database, Slack clients, people, the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.people import People
from storage import incidents
from storage.capture_sql import ChannelIncident
from storage.db import Database
from storage.models import Incident


def system_clock() -> datetime:
    return datetime.now(UTC)


class Outage:
    """When this process found the database not answering, until a write succeeds again.

    Slack redelivers a failed event for only about five minutes; what it stops redelivering is
    fetched back from channel history once the database answers (see capture.queue_catch_up).
    """

    def __init__(self) -> None:
        self._since: datetime | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._since is not None

    def began(self, at: datetime) -> None:
        with self._lock:
            if self._since is None:
                self._since = at

    def ended(self) -> datetime | None:
        """The start of the outage that just ended (None if there was none); forgets it."""
        with self._lock:
            since, self._since = self._since, None
        return since


@dataclass
class Services:
    settings: Settings
    db: Database
    slack: WebClient  # fast: used before the acknowledgement
    background: WebClient  # patient: outbox, reminders
    people: People
    clock: Callable[[], datetime] = system_clock
    outage: Outage = field(default_factory=Outage)
    _workspace_url: str | None = field(default=None, init=False, repr=False)
    _tracker: object = field(default=None, init=False, repr=False)
    _visibility: object = field(default=None, init=False, repr=False)

    def visibility(self):
        """Who may see an incident in a private channel (bot/visibility.py): one instance, so the web
        view and the Home tab share Slack's answers."""
        if self._visibility is None:
            from bot.visibility import Visibility

            self._visibility = Visibility(self.slack)
        return self._visibility

    def tracker(self):
        """The configured issue tracker (bot/trackers), built once; None for TRACKER=none."""
        if self._tracker is None and self.settings.tracker != "none":
            from bot.trackers import build_tracker

            self._tracker = build_tracker(self.settings)
        return self._tracker

    def close_tracker(self) -> None:
        """Close the tracker's HTTP connections (at shutdown), if it has any."""
        shutdown = getattr(self._tracker, "shutdown", None)  # optional (bot/trackers/base.py)
        if shutdown is not None:
            shutdown()

    def now(self) -> datetime:
        return self.clock()

    def workspace_url(self, team_domain: str | None = None) -> str | None:
        """The workspace's URL (`https://acme.slack.com/`, or GovSlack's), from auth.test, asked once.

        If Slack does not answer, the slash command's `team_domain` gives the usual URL.
        """
        if self._workspace_url is None:
            try:
                self._workspace_url = self.slack.auth_test().get("url") or None
            except (SlackApiError, SlackClientError, OSError):
                pass
        if self._workspace_url:
            return self._workspace_url
        return f"https://{team_domain}.slack.com/" if team_domain else None

    def capture_cutoff(self, now: datetime | None = None) -> datetime:
        """Incidents resolved before this moment take no more entries."""
        return incidents.capture_cutoff(now or self.now(), self.settings.capture_after_resolved_days)

    def zone_for(self, incident: Incident | ChannelIncident | None) -> ZoneInfo:
        """The incident's display zone: its own (`/incident timezone`), else DEFAULT_TIMEZONE."""
        return self.settings.display_zone(incident.display_tz if incident is not None else None)


def build_services(settings: Settings, db: Database, clock: Callable[[], datetime] = system_clock) -> Services:
    from bot.slack import background_client, fast_client

    fast = fast_client(settings)
    return Services(
        settings=settings,
        db=db,
        slack=fast,
        background=background_client(settings),
        people=People(db, fast, settings.zone, clock),
        clock=clock,
    )
