"""The bot's DM channels, remembered: conversations.open is asked once per person, also when many
people were reminded since; the memory stays bounded."""

from __future__ import annotations

import pytest

from bot import slack


class Slack:
    base_url = "https://slack.example/api/"

    def __init__(self):
        self.opened: list[str] = []

    def conversations_open(self, users: str) -> dict:
        self.opened.append(users)
        return {"channel": {"id": f"D{users}"}}


@pytest.fixture(autouse=True)
def _forget_dm_channels():
    slack._dm_channels.clear()
    yield
    slack._dm_channels.clear()


def test_a_dm_channel_is_opened_once_per_person_however_many_came_before():
    client = Slack()
    limit = slack._dm_channels.maxsize
    people = [f"U{n:06d}" for n in range(limit + 2)]
    assert [slack.open_dm(client, p) for p in people[:3]] == ["DU000000", "DU000001", "DU000002"]
    for person in people[3:]:
        slack.open_dm(client, person)
    opened = len(client.opened)
    for person in (people[-1], people[-2], people[len(people) // 2], people[2]):
        assert slack.open_dm(client, person) == f"D{person}"
    assert len(client.opened) == opened, "a recently opened DM channel was opened again"
    slack.open_dm(client, people[0])  # the one used longest ago is forgotten: memory stays bounded
    assert client.opened[opened:] == [people[0]]


def test_a_forgotten_dm_channel_is_opened_again():
    client = Slack()
    slack.open_dm(client, "U0ANN")
    slack.forget_dm(client, "U0ANN")
    slack.forget_dm(client, "U0NEVER")  # never opened: nothing to forget
    assert slack.open_dm(client, "U0ANN") == "DU0ANN"
    assert client.opened == ["U0ANN", "U0ANN"]
