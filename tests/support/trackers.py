"""What the tracker tests share, whichever tracker they drive (GitHub or Jira): a clock the tests move
by hand, the items of an incident, adding one through `/incident action`, and two replicas draining
the outbox at the same moment."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from storage import action_items
from storage.models import ActionItem


class Clock:
    """A clock the test moves by hand (`advance(minutes=5)`); safe to read from the outbox's threads."""

    def __init__(self, now: datetime):
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **kwargs) -> None:
        with self._lock:
            self.now += timedelta(**kwargs)


def items(bot, number=1) -> list[ActionItem]:
    with bot.db.read() as session:
        return action_items.action_items(session, number)


def add_item(bot, channel, text: str) -> ActionItem:
    bot.text(f"action {text}", channel_id=channel)
    return items(bot)[-1]


def drain_at_once(*bots) -> None:
    """Each bot drains its outbox in a thread of its own, all starting at the same moment."""
    barrier = threading.Barrier(len(bots))

    def drain(bot):
        barrier.wait()
        bot.runtime.outbox.drain(workers=2)

    threads = [threading.Thread(target=drain, args=(b,)) for b in bots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
