"""What a subcommand is given: the services, the call, the moment it arrived, and a way to record a
change (bot/changes.py) as the person who typed it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import changes
from bot.commands.common import Call
from bot.services import Services


@dataclass
class Context:
    services: Services
    call: Call
    now: datetime

    @property
    def user(self) -> str:
        return self.call.user_id

    def caller_zone(self):
        return self.services.people.zone_of(self.user)

    def record(self, incident_id: int, change: changes.Change | changes.Write) -> changes.Change | None:
        """Record a change to the incident as this caller's (bot/changes.py)."""
        return changes.record(self.services, changes.Actor(self.user, self.call.response_url), incident_id, change,
                              self.now)
