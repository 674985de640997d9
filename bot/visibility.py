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
and nobody (no signed-in person: WEB_AUTH=none) is a member of any private channel.
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
        directory = self._current_directory()
        hidden = set()
        for channel_id in set(channel_ids):
            if directory is not None and directory.get(channel_id) is False:
                continue  # public: the common case, decided without another call
            if not self.can_see(user_id, channel_id):
                hidden.add(channel_id)
        return hidden

    # -- what Slack says ----------------------------------------------------------------------------

    def kind(self, channel_id: str) -> str:
        directory = self._current_directory()
        if directory is None:  # Slack is not answering: nothing is known to be public
            return UNKNOWN
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
            return frozenset()  # not kept: asked again on the next page
        channels = frozenset(found)
        with self._lock:
            self._members[user_id] = channels
        return channels

    def _current_directory(self) -> dict[str, bool] | None:
        with self._lock:
            if self._clock() < self._failed_until:
                return None
            if self._directory is not None and self._clock() - self._directory_at < DIRECTORY_SECONDS:
                return self._directory
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
            return None
        with self._lock:
            self._directory, self._directory_at = directory, self._clock()
        return directory

    def _ask(self, channel_id: str) -> str:
        try:
            channel = self.client.conversations_info(channel=channel_id).get("channel") or {}
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("conversations.info for %s failed (%s): its incidents are hidden", channel_id, _error(exc))
            return UNKNOWN
        return PRIVATE if channel.get("is_private") else PUBLIC


def _error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return str(response.get("error"))
        except AttributeError:
            pass
    return type(exc).__name__
