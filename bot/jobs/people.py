"""Learn a person's name and zone from users.info (the reminder sweep reads the zone)."""

from __future__ import annotations

from bot.services import Services


def profile(services: Services, payload: dict) -> None:
    services.people.fetch(payload["user_id"], client=services.background)
