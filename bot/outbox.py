"""The durable outbox: Slack side effects the reply does not need, done in the background.

A listener writes its change and the jobs it implies in one transaction (storage.outbox_jobs.enqueue),
acknowledges, and wakes the drainer. The drainer leases due jobs with one atomic conditional update
(so several replicas never run the same job at once), runs each job's handler, and records the
outcome; a failure is retried with exponential backoff, a restart simply finds the jobs still due.
A crash between a Slack call and recording it can repeat that call once the lease expires, so
handlers are written to be harmless when repeated (chat.update, invites, backfill).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from storage import messages, outbox_jobs
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


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 12)), BACKOFF_CAP)


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
    ):
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
        self._claims = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_housekeeping: datetime | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.drain_once()
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
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    # -- draining -------------------------------------------------------------------------------

    def drain_once(self) -> int:
        """Lease and run one batch of due jobs. Returns how many ran."""
        self._claims += 1
        owner = f"{self.owner_prefix}-{self._claims}"
        now = self.clock()
        with self.db.write() as session:
            jobs = outbox_jobs.claim_jobs(session, owner, now, self.lease, self.batch)
        for job in jobs:
            if self._stop.is_set():
                break  # leases expire; another run picks them up
            self._run_job(job.id, job.kind, job.payload, job.attempts, owner)
        return len(jobs)

    def drain(self, max_rounds: int = 100) -> int:
        """Run jobs until none is due (for the CLI and tests). Returns how many ran."""
        total = 0
        for _ in range(max_rounds):
            ran = self.drain_once()
            total += ran
            if not ran:
                break
        return total

    def _run_job(self, job_id: int, kind: str, payload_text: str, attempts: int, owner: str) -> None:
        payload = json.loads(payload_text or "{}")
        handler = self.handlers.get(kind)
        error: str | None = None
        permanent = False
        wait: RetryLater | None = None
        if handler is None:
            error, permanent = f"no handler for job kind {kind!r}", True
        else:
            try:
                handler(payload)
            except RetryLater as exc:
                wait = exc
            except PermanentFailure as exc:
                error, permanent = str(exc) or type(exc).__name__, True
            except DatabaseUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded and retried
                error = f"{type(exc).__name__}: {exc}"
        now = self.clock()
        give_up = error is not None and (permanent or attempts >= MAX_ATTEMPTS)
        with self.db.write() as session:
            if wait is not None:
                outbox_jobs.postpone_job(session, job_id, owner, now + timedelta(seconds=wait.seconds))
            elif error is None:
                outbox_jobs.finish_job(session, job_id, owner, now)
            else:
                retry_at = None if give_up else now + backoff(attempts)
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
