"""The durable outbox: Slack side effects survive Slack errors and restarts, and run once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.bot.commands.test_incident import open_incident
from tests.support import rows


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pending(bot):
    with bot.db.read() as session:
        return rows.pending_jobs(session)


def test_a_slack_error_is_retried_later_and_then_succeeds(make_bot, standin):
    clock = Clock(datetime.now(UTC))
    bot = make_bot(clock=clock)
    channel = open_incident(bot)
    standin.fail("chat.update", "fatal_error", times=2)
    bot.command("severity sev1", channel_id=channel)
    bot.drain()
    assert len(pending(bot)) == 1  # waiting for its retry
    clock.now += timedelta(seconds=3)
    bot.drain()
    assert len(pending(bot)) == 1
    clock.now += timedelta(seconds=10)
    bot.drain()
    assert pending(bot) == []
    assert len(standin.calls_to("chat.update")) == 3
    assert "SEV1" in standin.calls_to("chat.update")[-1]["text"]


def test_rate_limits_and_server_errors_are_retried_by_the_sdk(bot, standin):
    channel = open_incident(bot)
    standin.reset()
    standin.fail("chat.update", status=429, retry_after=0)  # the point is the retry, not the wait
    standin.fail("chat.update", status=503)
    bot.command("severity sev4", channel_id=channel)
    bot.drain()
    assert pending(bot) == []
    assert len(standin.calls_to("chat.update")) == 3


def test_jobs_survive_a_restart(make_bot, standin):
    first = make_bot()
    channel = open_incident(first)
    standin.reset()
    first.command("severity sev1", channel_id=channel)
    first.close()  # stopped before its outbox ran
    assert standin.calls_to("chat.update") == []
    second = make_bot()
    second.drain()
    assert "SEV1" in standin.calls_to("chat.update")[0]["text"]


def test_a_permanent_error_is_given_up_and_not_retried(bot, standin):
    channel = open_incident(bot)
    standin.reset()
    standin.fail("chat.update", "channel_not_found", times=None)
    bot.command("severity sev1", channel_id=channel)
    bot.drain()
    assert pending(bot) == []
    assert len(standin.calls_to("chat.update")) == 1


def test_two_replicas_never_post_two_headers(make_bot, standin):
    one, two = make_bot(), make_bot()
    one.command("start Outage")
    barrier = threading.Barrier(2)

    def drain(bot):
        barrier.wait()
        for _ in range(20):
            bot.drain()

    threads = [threading.Thread(target=drain, args=(b,)) for b in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    headers = [c for c in standin.calls_to("chat.postMessage") if "Investigating" in c["text"]]
    assert len(headers) == 1


def test_a_deleted_header_is_posted_again(bot, standin):
    """Someone deletes the header message: the next change posts a new one instead of failing forever."""
    bot.command("start Outage")
    bot.drain()
    first = bot.incident(1).header_ts
    channel = bot.incident(1).channel_id
    standin.fail("chat.update", "message_not_found")
    bot.command("severity sev1", channel_id=channel)
    bot.drain()
    incident = bot.incident(1)
    assert incident.header_ts and incident.header_ts != first
    [again] = [c for c in standin.calls_to("chat.postMessage")
               if c["channel"] == channel and c["text"].startswith("INC-1") and "SEV1" in c["text"]]
    assert "Investigating" in again["text"]
    bot.command("severity sev2", channel_id=channel)
    bot.drain()
    assert standin.calls_to("chat.update")[-1]["ts"] == incident.header_ts


def test_a_header_that_cannot_be_updated_is_told_to_whoever_changed_it(bot, standin):
    bot.command("start Outage")
    bot.drain()
    channel = bot.incident(1).channel_id
    standin.fail("chat.update", "channel_not_found")
    standin.fail("chat.postMessage", "channel_not_found", times=None)
    reply = bot.text("severity sev1", channel_id=channel, response_url=standin.response_url("sev"))
    assert "now SEV1" in reply
    bot.drain()
    [told] = [r for r in standin.responses if r["_key"] == "sev"]
    assert "header of INC-1 could not be updated" in told["text"] and "nothing was lost" in told["text"]
    assert bot.incident(1).severity == "sev1", "the change itself is stored"


def test_a_failing_feeder_does_not_stop_the_other_jobs(db, caplog):
    """Feeders turn stored marks into jobs before each claim (a log entry's post); one that fails is
    logged, and the jobs already queued still run."""
    import functools

    from bot.outbox import Outbox
    from storage import outbox_jobs

    ran = []

    def broken_feeder():
        raise ValueError("a bug in a feeder")

    outbox = Outbox(db, {"announce": ran.append}, lambda: datetime(2026, 11, 22, 14, 0, tzinfo=UTC),
                    feeders=[functools.partial(broken_feeder)])  # bound, as bot/jobs binds them
    with db.write() as session:
        outbox_jobs.enqueue(session, "announce", {"text": "sev1"}, datetime(2026, 11, 22, 14, 0, tzinfo=UTC))
    assert outbox.drain_once() == 1
    assert ran == [{"text": "sev1"}]
    assert "feeder (broken_feeder) failed" in caplog.text and "a bug in a feeder" in caplog.text
