"""What listeners, jobs and the CLI share: settings, database, Slack clients, people, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.config import Settings
from bot.people import People
from storage.db import Database
from storage.fast import ChannelIncident
from storage.models import Incident


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    db: Database
    slack: WebClient  # fast: used before the acknowledgement
    background: WebClient  # patient: outbox, reminders
    people: People
    clock: Callable[[], datetime] = system_clock
    wake_outbox: Callable[[], None] = field(default=lambda: None)

    def now(self) -> datetime:
        return self.clock()

    def zone_for(self, incident: Incident | ChannelIncident | None) -> ZoneInfo:
        """The incident's display zone: its own (`/incident timezone`), else DEFAULT_TIMEZONE."""
        if incident is not None and incident.display_tz:
            try:
                return ZoneInfo(incident.display_tz)
            except (KeyError, ValueError):
                pass
        return self.settings.zone


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
