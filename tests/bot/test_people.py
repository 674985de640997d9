"""Who people are, remembered in memory: a person asked about recently is never asked of Slack
again, however many other people were looked up before; the memory stays bounded."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.people import REMEMBERED, People
from storage.db import DatabaseUnavailable

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class DatabaseDown:
    """A database that never answers: People then relies on Slack and its memory alone."""

    @contextmanager
    def read(self):
        raise DatabaseUnavailable("down")
        yield

    write = read


class Slack:
    def __init__(self):
        self.asked: list[str] = []

    def users_info(self, user: str) -> dict:
        self.asked.append(user)
        return {"user": {"tz": "Europe/Berlin", "profile": {"display_name": user.lower()}}}


def test_people_asked_about_recently_stay_remembered_however_many_came_before():
    slack = Slack()
    people = People(DatabaseDown(), slack, ZoneInfo("UTC"), clock=lambda: NOW)
    everyone = [f"U{n:06d}" for n in range(REMEMBERED + 2)]
    for user_id in everyone:
        assert people.zone_of(user_id) == ZoneInfo("Europe/Berlin")
    asked = len(slack.asked)
    for user_id in (everyone[-1], everyone[-2], everyone[len(everyone) // 2], everyone[2]):
        assert people.get(user_id).name == user_id.lower()
    assert len(slack.asked) == asked, "someone recently looked up was asked of Slack again"
    people.get(everyone[0])  # the one asked about longest ago is forgotten: memory stays bounded
    assert slack.asked[asked:] == [everyone[0]]
