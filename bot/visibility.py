"""Who may see which incident: one whose channel is private only a member of that channel, as Slack
says (docs/web.md, "Who sees what"). To anyone else it does not exist.

Slack is asked with the bot token, and the answers are kept briefly:

- which channels are private: `conversations.list` (public and private, archived too) pages of 1,000,
  kept for `DIRECTORY_SECONDS`: one call per thousand channels, instead of one `conversations.info`
  per incident, which a list of 5,000 incidents could not afford (Tier 3, about 50 a minute);
- a channel the list does not hold (a private channel the bot was removed from, or a deleted one) is
  asked about once with `conversations.info`; when Slack cannot say it is public, it is hidden;
- which private channels a person is in: `users.conversations` for that person (with the bot token
  it lists the private channels both are in, which is every private incident channel the bot
  captures), kept for `MEMBERS_SECONDS`, so someone removed from a channel loses sight of it within a
  minute. One call per viewer a minute, however many private incidents there are (asking
  `conversations.members` per private channel would cost one call per channel a minute instead).

It fails closed: when Slack does not answer, private and unknown channels are hidden from everyone,
and nobody (no signed-in person: WEB_AUTH=none) is a member of any private channel. Public channels
stay visible meanwhile: the last list Slack gave is used for them, for up to `STALE_SECONDS` (a channel
made private since is the risk taken for that hour); an unknown channel is not asked about while the
list fails. `trouble(user)` is the one line the pages show while this is so (and, for a missing
scope, which scopes to add). One fetch of the list at a time: requests that find it expired while
another one fetches it wait for that answer rather than asking again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

DIRECTORY_SECONDS = 300
MEMBERS_SECONDS = 60
RETRY_SECONDS = 15  # after conversations.list failed, how long before it is asked again
STALE_SECONDS = 3600  # how long the last good list still tells which channels are public, while Slack fails
SCOPES = "channels:read and groups:read"
PAGE = 1000

PUBLIC, PRIVATE, UNKNOWN = "public", "private", "unknown"


class Visibility:
    def __init__(self, client: WebClient, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self._lock = threading.Lock()
        self._directory: dict[str, bool] | None = None  # channel id -> private
        self._directory_at = 0.0
        self._clock = clock
        self._failed_until = 0.0
        self._fetching = threading.Lock()  # one conversations.list at a time
        self._trouble: tuple[str, str | None] | None = None  # the list's last failure: (error, scope needed)
        self._member_trouble: TTLCache[str, tuple[str, str | None]] = TTLCache(maxsize=10_000, ttl=MEMBERS_SECONDS,
                                                                              timer=clock)
        self._single: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=DIRECTORY_SECONDS, timer=clock)
        self._members: TTLCache[str, frozenset[str]] = TTLCache(maxsize=10_000, ttl=MEMBERS_SECONDS, timer=clock)

    # -- what the pages ask -------------------------------------------------------------------------

    def can_see(self, user_id: str | None, channel_id: str | None) -> bool:
        if channel_id is None:
            return True
        kind = self.kind(channel_id)
        if kind == PUBLIC:
            return True
        if kind == UNKNOWN or user_id is None:
            return False
        return channel_id in self.private_channels_of(user_id)

    def hidden(self, user_id: str | None, channel_ids: Iterable[str]) -> set[str]:
        """Of these channels, the ones this person may not see (one look at the directory for all)."""
        directory, _fresh = self._current_directory()
        hidden = set()
        for channel_id in set(channel_ids):
            if directory is not None and directory.get(channel_id) is False:
                continue  # public: the common case, decided without another call
            if not self.can_see(user_id, channel_id):
                hidden.add(channel_id)
        return hidden

    def trouble(self, user_id: str | None) -> str | None:
        """One line for the pages while Slack cannot be asked who sees what (None: all is well)."""
        with self._lock:
            listing = self._trouble
            known = self._stale(self._clock()) is not None
            failed = listing or (self._member_trouble.get(user_id) if user_id is not None else None)
        if failed is None:
            return None
        error, needed = failed
        hidden = ("incidents in private channels are hidden" if listing is None or known
                  else "incidents in Slack channels are hidden, public ones too")
        if error == "missing_scope":
            return (f"The bot's Slack app is missing a scope: add {needed or SCOPES} under OAuth & Permissions "
                    f"and reinstall the app to the workspace. Until then {hidden}.")
        return f"Slack is not answering ({error}): {hidden} until it does."

    # -- what Slack says ----------------------------------------------------------------------------

    def kind(self, channel_id: str) -> str:
        directory, fresh = self._current_directory()
        if directory is None:  # Slack is not answering: nothing is known to be public
            return UNKNOWN
        if not fresh:  # only what the last list said is public is still shown
            return PUBLIC if directory.get(channel_id) is False else UNKNOWN
        if channel_id in directory:
            return PRIVATE if directory[channel_id] else PUBLIC
        with self._lock:
            known = self._single.get(channel_id)
        if known is None:
            known = self._ask(channel_id)
            with self._lock:
                self._single[channel_id] = known
        return known

    def private_channels_of(self, user_id: str) -> frozenset[str]:
        """The private channels this person and the bot are both in (empty when Slack does not answer)."""
        with self._lock:
            if user_id in self._members:
                return self._members[user_id]
        found: set[str] = set()
        cursor = None
        try:
            while True:
                response = self.client.users_conversations(user=user_id, types="private_channel",
                                                           exclude_archived=False, limit=PAGE, cursor=cursor)
                found.update(c["id"] for c in response.get("channels") or [])
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("users.conversations for %s failed (%s): private incidents are hidden from them",
                        user_id, _error(exc))
            with self._lock:
                self._member_trouble[user_id] = (_error(exc), _needed(exc))
            return frozenset()  # not kept: asked again on the next page
        channels = frozenset(found)
        with self._lock:
            self._members[user_id] = channels
            self._member_trouble.pop(user_id, None)
        return channels

    def _current_directory(self) -> tuple[dict[str, bool] | None, bool]:
        """(which channels are private, whether that is Slack's current answer). While Slack fails,
        the last answer for up to STALE_SECONDS, not current; None when there is none."""
        with self._lock:
            cached = self._cached()
            if cached is not None:
                return cached
        with self._fetching:  # one fetch at a time: whoever waited here finds the answer it got
            with self._lock:
                cached = self._cached()
                if cached is not None:
                    return cached
            return self._fetch_directory()

    def _cached(self) -> tuple[dict[str, bool] | None, bool] | None:
        now = self._clock()
        if now < self._failed_until:
            return self._stale(now), False
        if self._directory is not None and now - self._directory_at < DIRECTORY_SECONDS:
            return self._directory, True
        return None

    def _stale(self, now: float) -> dict[str, bool] | None:
        if self._directory is not None and now - self._directory_at < STALE_SECONDS:
            return self._directory
        return None

    def _fetch_directory(self) -> tuple[dict[str, bool] | None, bool]:
        directory: dict[str, bool] = {}
        cursor = None
        try:
            while True:
                response = self.client.conversations_list(types="public_channel,private_channel",
                                                          exclude_archived=False, limit=PAGE, cursor=cursor)
                for channel in response.get("channels") or []:
                    directory[channel["id"]] = bool(channel.get("is_private"))
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("conversations.list failed (%s): private incidents are hidden until Slack answers",
                        _error(exc))
            with self._lock:
                self._failed_until = self._clock() + RETRY_SECONDS
                self._trouble = (_error(exc), _needed(exc))
                return self._stale(self._clock()), False
        with self._lock:
            self._directory, self._directory_at = directory, self._clock()
            self._trouble = None
        return directory, True

    def _ask(self, channel_id: str) -> str:
        try:
            channel = self.client.conversations_info(channel=channel_id).get("channel") or {}
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("conversations.info for %s failed (%s): its incidents are hidden", channel_id, _error(exc))
            return UNKNOWN
        return PRIVATE if channel.get("is_private") else PUBLIC


def _needed(exc: BaseException) -> str | None:
    """The scope Slack says a call lacks (missing_scope answers name it in `needed`)."""
    response = getattr(exc, "response", None)
    try:
        needed = response.get("needed") if response is not None else None
    except AttributeError:
        return None
    return str(needed)[:100] if needed else None


def _error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return str(response.get("error"))
        except AttributeError:
            pass
    return type(exc).__name__
