"""Who people are: their Slack time zone and display name, from users.info, cached.

The cache is two-level: memory (per process) and the user_profile table (shared by replicas).
users.info is called on the acknowledgement path only on a miss, with the fast client; if Slack
does not answer, a stale profile or DEFAULT_TIMEZONE is used and the reply still goes out.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cachetools import LRUCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from storage import profiles
from storage.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(hours=24)
REMEMBERED = 10_000  # people kept in memory; past that, those not asked about for longest are forgotten


@dataclass(frozen=True)
class Person:
    user_id: str
    zone: ZoneInfo | None  # None: Slack did not tell us
    name: str | None
    fetched_at: datetime


class People:
    def __init__(self, db: Database, client: WebClient, default_zone: ZoneInfo, clock):
        self.db = db
        self.client = client
        self.default_zone = default_zone
        self.clock = clock
        self._cache: LRUCache[str, Person] = LRUCache(maxsize=REMEMBERED)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def zone_of(self, user_id: str) -> ZoneInfo:
        person = self.get(user_id)
        return person.zone if person and person.zone else self.default_zone

    def get(self, user_id: str) -> Person | None:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and now - cached.fetched_at < FRESH_FOR:
            return cached
        stored = self._stored(user_id)
        if stored and now - stored.fetched_at < FRESH_FOR:
            self._remember(stored)
            return stored
        fetched = self.fetch(user_id)
        return fetched or stored or cached

    def remembered(self, user_id: str) -> bool:
        """Whether this process holds the person, fresh: `zone_of` then answers without the database
        or Slack."""
        now = self.clock()
        with self._lock:
            cached = self._cache.get(user_id)
        return cached is not None and now - cached.fetched_at < FRESH_FOR

    def known_name(self, user_id: str) -> str | None:
        """The person's name as remembered (cache or database), without asking Slack: for what must
        answer fast, such as a modal opened within a trigger's 3 seconds."""
        with self._lock:
            cached = self._cache.get(user_id)
        person = cached or self._stored(user_id)
        return person.name if person else None

    def fetch(self, user_id: str, client: WebClient | None = None) -> Person | None:
        """Ask Slack (users.info) and store the answer; None when Slack did not answer."""
        try:
            response = (client or self.client).users_info(user=user_id)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("users.info for %s failed: %s", user_id, getattr(exc, "response", exc))
            return None
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        tz_name = user.get("tz")
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
        person = Person(user_id, slack_zone(tz_name), name or None, self.clock())
        try:
            with self.db.write() as session:
                profiles.put_user_profile(session, user_id, tz_name, person.name, person.fetched_at)
        except DatabaseUnavailable:
            pass  # the cache is a cache
        self._remember(person)
        return person

    def _stored(self, user_id: str) -> Person | None:
        try:
            with self.db.read() as session:
                profile = profiles.user_profile(session, user_id)
        except DatabaseUnavailable:
            return None
        if profile is None:
            return None
        return Person(user_id, slack_zone(profile.tz), profile.name, profile.fetched_at)

    def _remember(self, person: Person) -> None:
        with self._lock:
            self._cache[person.user_id] = person


def slack_zone(name: str | None) -> ZoneInfo | None:
    """The zone of a person's Slack `tz` (as users.info gives it and user_profile stores it); None
    when there is none or it is not one this system knows. (Typed input uses bot.when.zone_named.)"""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None
