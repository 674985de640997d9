"""The durable outbox: Slack side effects the reply does not need, done in the background.

A listener writes its change and the jobs it implies in one transaction (storage.outbox_jobs.enqueue),
and the database wakes the drainer when that transaction commits. A job queued with an idempotency
key (storage.outbox_jobs.enqueue_once) is added only if no unfinished job has that key: the reminder
sweep queues one DM job per person however many replicas sweep at once.

The drainer leases due jobs with one atomic conditional update (so several replicas never run the
same job at once), runs each job's handler, and records the outcome; a failure is retried with
exponential backoff and given up after MAX_ATTEMPTS (or at once, for a PermanentFailure), when
`on_give_up` reports it; a restart simply finds the jobs still due. A job is started only while at
least half of its lease is left. A crash between a Slack call and recording it can repeat that call
once the lease expires: Slack calls cannot join a database transaction. So handlers are written to be
harmless when repeated (chat.update, invites, backfill), or record what they sent as soon as it is
sent (reminder DMs), which narrows the repeat to that one call.

Lanes: kinds named in a lane are drained by a thread of their own beside the main drainer.

Feeders: functions the main drainer calls before each claim, which turn work stored without a job into
jobs (a log entry stored `to_post` in the acknowledgement's one statement: bot/curation.py
`queue_log_posts`), so a restart, or another replica, finds that work too.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import messages, outbox_jobs, webhooks
from storage.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[dict], None]

MAX_ATTEMPTS = 15
BACKOFF_CAP = timedelta(minutes=5)
HOUSEKEEPING_EVERY = timedelta(hours=1)
KEEP_DONE_FOR = timedelta(days=7)


class PermanentFailure(Exception):
    """A job that cannot succeed by retrying (e.g. the channel was archived)."""


class RetryLater(Exception):
    """Not a failure: the job must wait (e.g. another replica holds the header), and does not use
    up an attempt."""

    def __init__(self, seconds: float = 1.0, reason: str = "waiting"):
        super().__init__(reason)
        self.seconds = seconds


class RetryAfter(Exception):
    """A failure, counted as an attempt, retried no sooner than `seconds` (what the remote asked: a
    tracker's Retry-After or rate-limit reset; 0 when it said nothing) and no sooner than the backoff:
    a remote that keeps failing is retried ever more slowly, whatever wait it names."""

    def __init__(self, message: str, seconds: float = 0.0):
        super().__init__(message)
        self.seconds = max(0.0, float(seconds))


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), BACKOFF_CAP)


@dataclass(frozen=True)
class _Claim:
    """Which jobs one drainer thread leases."""

    kinds: frozenset[str] | None  # None: any kind
    exclude: frozenset[str] = frozenset()
    feeds: bool = True  # runs the feeders first (not a lane)


class Outbox:
    def __init__(
        self,
        db: Database,
        handlers: dict[str, Handler],
        clock: Callable[[], datetime],
        *,
        on_give_up: Callable[[str, dict, str], None] | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 10,
        poll_seconds: float = 1.0,
        outage=None,
        after_outage: Callable[[], None] | None = None,
        lanes: Sequence[Collection[str]] = (),
        kinds: Collection[str] | None = None,
        feeders: Sequence[Callable[[], int]] = (),
    ):
        """`kinds`: run only jobs of these kinds (None: every job; one without a handler is given up).

        `lanes`: groups of kinds that a thread of their own drains beside the main drainer, so that a
        burst of them (a reminder sweep's DMs) neither waits behind nor holds up the jobs people are
        watching for (a header refresh). A lane polls every `poll_seconds`; commits wake only the main
        drainer, so the hot paths pay for one drainer's claim per commit, as before.

        `feeders`: called (in order) before each claim of the main drainer and of `drain_once`.
        """
        self.db = db
        self.handlers = handlers
        self.clock = clock
        self.on_give_up = on_give_up
        self.lease = lease
        self.batch = batch
        self.poll_seconds = poll_seconds
        # the drainer notices a database outage too, and its end, even when Slack sends nothing meanwhile
        self.outage = outage
        self.after_outage = after_outage
        self.owner_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.feeders = list(feeders)
        self._everything = _Claim(frozenset(kinds) if kinds is not None else None)
        laned = frozenset(k for lane in lanes for k in lane)
        self._drainers = [(_Claim(self._everything.kinds, laned), True)] + [
            (_Claim(frozenset(lane) if kinds is None else frozenset(lane) & self._everything.kinds, feeds=False), False)
            for lane in lanes]
        self._claims = itertools.count(1)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_housekeeping: datetime | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if any(t.is_alive() for t in self._threads):
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(claim, main), name="outbox" if main else "outbox-lane",
                             daemon=True)
            for claim, main in self._drainers]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def wake(self) -> None:
        self._wake.set()

    def _run(self, claim: _Claim, main: bool) -> None:
        while not self._stop.is_set():
            try:
                worked = self._drain_once(claim)
                if main:
                    self._housekeeping()
                    if self.outage is not None and self.outage.active and self.after_outage is not None:
                        self.after_outage()
            except DatabaseUnavailable as exc:
                log.warning("outbox: database unavailable (%s); retrying", exc)
                if self.outage is not None:
                    self.outage.began(self.clock())
                worked = 0
            except Exception:
                log.exception("outbox: unexpected error")
                worked = 0
            if worked:
                continue  # there may be more
            if main:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
            else:
                self._stop.wait(self.poll_seconds)

    # -- draining -------------------------------------------------------------------------------

    def drain_once(self) -> int:
        """Lease and run one batch of due jobs (of any lane). Returns how many ran."""
        return self._drain_once(self._everything)

    def drain(self, max_rounds: int = 100, workers: int = 1) -> int:
        """Run jobs until none is due, in `workers` threads (for the CLI and tests). Returns how many ran."""
        if workers <= 1:
            return self._drain_rounds(max_rounds)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbox-drain") as pool:
            return sum(f.result() for f in [pool.submit(self._drain_rounds, max_rounds) for _ in range(workers)])

    def _drain_rounds(self, max_rounds: int) -> int:
        total = 0
        for _ in range(max_rounds):
            ran = self.drain_once()
            total += ran
            if not ran:
                break
        return total

    def _drain_once(self, claim: _Claim) -> int:
        if claim.feeds:
            for feed in self.feeders:
                try:
                    feed()
                except DatabaseUnavailable:
                    raise
                except Exception:  # one feeder's fault must not stop every other job
                    name = getattr(feed, "__name__", None) or getattr(getattr(feed, "func", None), "__name__", "?")
                    log.exception("outbox: a feeder (%s) failed", name)
        owner = f"{self.owner_prefix}-{next(self._claims)}"
        claimed_at = self.clock()
        with self.db.write() as session:
            jobs = outbox_jobs.claim_jobs(session, owner, claimed_at, self.lease, self.batch,
                                          kinds=claim.kinds, exclude=claim.exclude)
        for index, job in enumerate(jobs):
            if self._stop.is_set():
                break  # leases expire; another run picks them up
            if self.clock() - claimed_at > self.lease / 2:
                # The batch ran long: what is left would start on a lease about to run out, when another
                # drainer may take the same job. Give it back for a fresh lease instead.
                with self.db.write() as session:
                    outbox_jobs.give_back_jobs(session, [j.id for j in jobs[index:]], owner)
                break
            self._run_job(job.id, job.kind, job.payload, job.attempts, owner)
        return len(jobs)

    def _run_job(self, job_id: int, kind: str, payload_text: str, attempts: int, owner: str) -> None:
        payload = json.loads(payload_text or "{}")
        handler = self.handlers.get(kind)
        error: str | None = None
        permanent = False
        wait: RetryLater | None = None
        asked: float = 0.0
        if handler is None:
            error, permanent = f"no handler for job kind {kind!r}", True
        else:
            try:
                handler(payload)
            except RetryLater as exc:
                wait = exc
            except PermanentFailure as exc:
                error, permanent = str(exc) or type(exc).__name__, True
            except RetryAfter as exc:
                error, asked = str(exc) or type(exc).__name__, exc.seconds
            except DatabaseUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded and retried
                error = f"{type(exc).__name__}: {exc}"
        now = self.clock()
        give_up = error is not None and (permanent or attempts >= MAX_ATTEMPTS)
        if wait is None and error is None:
            self.db.hot_write(lambda conn: outbox_jobs.finish_job(conn, job_id, owner, now))
            return
        with self.db.write() as session:
            if wait is not None:
                outbox_jobs.postpone_job(session, job_id, owner, now + timedelta(seconds=wait.seconds))
            else:
                later = max(timedelta(seconds=asked), backoff(attempts))
                retry_at = None if give_up else now + later
                outbox_jobs.retry_job(session, job_id, owner, error, retry_at, now)
        if error is not None:
            log.warning("outbox job %s (%s) attempt %s failed: %s%s", job_id, kind, attempts, error,
                        "; giving up" if give_up else "")
        if give_up and self.on_give_up is not None:
            try:
                self.on_give_up(kind, payload, error or "")
            except Exception:
                log.exception("outbox: reporting a failed %s job failed", kind)

    def _housekeeping(self) -> None:
        now = self.clock()
        if self._last_housekeeping and now - self._last_housekeeping < HOUSEKEEPING_EVERY:
            return
        self._last_housekeeping = now
        with self.db.write() as session:
            outbox_jobs.forget_jobs_done_before(session, now - KEEP_DONE_FOR)
            messages.forget_events_before(session, now - KEEP_DONE_FOR)
            webhooks.forget_deliveries_before(session, now - KEEP_DONE_FOR)
