"""`/incident` through signed slash commands into the real app (docs/commands.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.commands.common import NO_INCIDENT
from bot.commands.opening import channel_name_for
from tests.support import slack_requests as sr

LIVE_TOKEN = re.compile(r"<!(channel|here|everyone)|<https?:")


def open_incident(bot, title="Checkout errors sev2", **kwargs) -> str:
    """Start an incident (create mode) and return its channel id."""
    reply = bot.command(f"start {title}", **kwargs)
    assert reply["response_type"] == "in_channel", reply
    bot.drain()
    return _created_channel(bot)


def _created_channel(bot) -> str:
    created = [c for c in bot.standin.channels.values() if c.name.startswith(bot.settings.channel_prefix)]
    return created[-1].id


# --- start ------------------------------------------------------------------------------------


def test_start_creates_the_channel_invites_the_caller_and_posts_the_header(bot, standin):
    reply = bot.command("start Checkout errors sev1", channel_id="C0GENERAL", channel_name="general")
    assert reply["response_type"] == "in_channel"
    assert "*INC-1*" in reply["text"] and "SEV1" in reply["text"]
    [create] = standin.calls_to("conversations.create")
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert create["name"] == f"inc-{today}-1-checkout-errors"
    channel = _created_channel(bot)
    assert f"<#{channel}>" in reply["text"]

    bot.drain()
    [invite] = standin.calls_to("conversations.invite")
    assert invite["channel"] == channel and invite["users"] == "U0USER1"
    [header] = standin.calls_to("chat.postMessage")
    assert header["channel"] == channel
    assert "INC-1" in header["text"] and "SEV1" in header["text"] and "Investigating" in header["text"]
    incident = bot.incident(1)
    assert incident.channel_id == channel and incident.header_ts and incident.commander_id == "U0USER1"


def test_start_records_detected_at_the_time_of_start(bot):
    channel = open_incident(bot)
    [item] = [i for i in bot.timeline(1) if i.milestone == "detected"]
    assert item.key and abs((datetime.now(UTC) - item.time).total_seconds()) < 5
    assert bot.incident(1).channel_id == channel


def test_incident_numbers_count_up(bot):
    open_incident(bot, "one")
    open_incident(bot, "two")
    assert bot.incident(2).title == "two"


def test_start_where_an_incident_is_open_opens_nothing(bot):
    channel = open_incident(bot)
    reply = bot.text("start another one", channel_id=channel)
    assert reply == "INC-1 is open here. Did you mean `/incident started`?"
    assert bot.incident(2) is None


def test_start_needs_a_title_and_a_real_severity(bot):
    assert "Give the incident a title" in bot.text("start")
    assert "sev1 (most severe) to sev4" in bot.text("start outage sev9")
    assert bot.incident(1) is None


def test_start_title_cannot_ping_anyone(bot):
    reply = bot.text("start DB down <!channel> <https://evil.example|status page>")
    assert not LIVE_TOKEN.search(reply)
    assert "@channel" in reply and "status page (https://evil.example)" in reply


def test_failed_channel_creation_opens_nothing_and_says_how_to_fix_it(bot, standin):
    standin.fail("conversations.create", "missing_scope")
    reply = bot.text("start outage")
    assert "could not create the incident channel" in reply and "channels:manage" in reply
    assert bot.incident(1) is None
    # the next start works, and its number is not a reused one
    open_incident(bot, "outage")
    assert bot.incident(2) is not None


def test_a_taken_channel_name_gets_a_suffix(bot, standin):
    today = datetime.now(UTC).strftime("%Y%m%d")
    standin.add_channel("CTAKEN", f"inc-{today}-1-outage")
    open_incident(bot, "outage")
    name = standin.calls_to("conversations.create")[-1]["name"]
    assert name.startswith(f"inc-{today}-1-outage-") and len(name) <= 80


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Zahlungsausfall über alles", "inc-20261122-7-zahlungsausfall-uber-alles"),
        ("🔥🔥🔥", "inc-20261122-7-incident"),
        ("x" * 200, "inc-20261122-7-" + "x" * 65),
        ("<!channel> DB &amp; cache", "inc-20261122-7-channel-db-cache"),
    ],
)
def test_channel_names(title, expected):
    name = channel_name_for("inc-", datetime(2026, 11, 22), 7, title)
    assert name == expected and len(name) <= 80 and re.fullmatch(r"[a-z0-9-]+", name)


def test_current_mode_binds_the_channel_joins_it_and_backfills(make_bot, standin):
    bot = make_bot(incident_channel_mode="current", backfill_minutes=60)
    standin.add_channel("C0WAR", "war-room")
    now = datetime.now(UTC).timestamp()
    standin.history["C0WAR"] = [
        {"type": "message", "user": "U0USER2", "text": "said before start", "ts": f"{int(now) - 600}.000100"},
        {"type": "message", "user": "U0USER3", "text": "too old", "ts": f"{int(now) - 7200}.000100"},
        {"type": "message", "bot_id": "B9", "subtype": "bot_message", "text": "bot", "ts": f"{int(now) - 300}.000100"},
    ]
    reply = bot.command("start Payments down", channel_id="C0WAR", channel_name="war-room")
    assert "this channel" in reply["text"]
    assert standin.calls_to("conversations.join")[0]["channel"] == "C0WAR"
    assert not standin.calls_to("conversations.create")
    bot.drain()
    texts = [i.text for i in bot.timeline(1) if i.kind == "message"]
    assert texts == ["said before start"]
    bot.drain()  # a repeated backfill stores nothing twice
    assert [i.text for i in bot.timeline(1) if i.kind == "message"] == ["said before start"]


def test_current_mode_joins_before_the_header_and_backfill_can_run(make_bot, standin):
    """The start commits jobs that need the bot in the channel; the commit wakes the outbox at once."""
    bot = make_bot(incident_channel_mode="current", backfill_minutes=60)
    standin.add_channel("C0WAR", "war-room")
    bot.db.on_jobs_committed = bot.drain  # the outbox as fast as it can be: it runs at the commit
    bot.command("start Payments down", channel_id="C0WAR", channel_name="war-room")
    methods = [c.method for c in standin.calls]
    assert "conversations.join" in methods and "chat.postMessage" in methods
    assert methods.index("conversations.join") < methods.index("chat.postMessage"), methods
    assert methods.index("conversations.join") < methods.index("conversations.history"), methods


def test_current_mode_in_a_private_channel_says_to_invite_the_bot(make_bot, standin):
    bot = make_bot(incident_channel_mode="current")
    standin.add_channel("C0PRIV", "secret-war-room", private=True)
    reply = bot.text("start Payments down", channel_id="C0PRIV", channel_name="secret-war-room")
    assert "private channel" in reply and "/invite" in reply
    assert bot.incident(1).channel_id == "C0PRIV"


def test_current_mode_a_resolved_channel_takes_a_new_incident(make_bot, standin):
    bot = make_bot(incident_channel_mode="current")
    bot.command("start first", channel_id="C0WAR")
    bot.command("resolved", channel_id="C0WAR")
    bot.command("start second", channel_id="C0WAR")
    assert bot.incident(2).channel_id == "C0WAR"
    assert "INC-2" in bot.text("log hello", channel_id="C0WAR")


def test_start_from_a_dm_in_current_mode_creates_a_channel(make_bot, standin):
    bot = make_bot(incident_channel_mode="current")
    bot.command("start outage", channel_id="D0DM01", channel_name="directmessage")
    assert standin.calls_to("conversations.create")


# --- everything else needs an incident ---------------------------------------------------------


@pytest.mark.parametrize("text", ["log hello", "mitigated", "severity sev1", "status", "summary x", "resolved clear"])
def test_outside_an_incident_channel(bot, text):
    assert bot.text(text, channel_id="C0RANDOM") == NO_INCIDENT


def test_a_log_outside_an_incident_channel_does_not_look_the_caller_up(bot, standin):
    """"No incident here" is answered without asking Slack who the caller is (users.info may take a
    second); the person's zone is needed only to log something."""
    standin.reset()
    assert bot.text("log 14:05 rolled back", channel_id="C0RANDOM", user_id="U0NEWCOMER") == NO_INCIDENT
    assert standin.calls_to("users.info") == []


@pytest.mark.parametrize("text", ["", "help", "HELP", "frobnicate", "starts now"])
def test_help_for_empty_unknown_and_help(bot, text):
    reply = bot.text(text)
    assert "/incident start &lt;title&gt;" in reply, "a placeholder, not a Slack token"
    if text.lower() not in ("", "help"):
        assert "is not an `/incident` subcommand" in reply


def test_subcommands_are_whole_words_case_insensitive(bot):
    channel = open_incident(bot)
    assert bot.text("LOG hi", channel_id=channel).startswith("Logged for INC-1")
    assert "is not an `/incident` subcommand" in bot.text("lo hi", channel_id=channel)
    assert "is not an `/incident` subcommand" in bot.text("mitigate", channel_id=channel)


# --- log ----------------------------------------------------------------------------------------


def test_log_with_a_time_echoes_what_was_stored_with_its_zone(make_bot, standin):
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 15, 0, tzinfo=UTC))
    channel = open_incident(bot)
    reply = bot.text("log 14:05 rolled back deploy", channel_id=channel)
    assert reply == "Logged for INC-1 at 2026-11-22 14:05 UTC: rolled back deploy"
    [entry] = [i for i in bot.timeline(1) if i.kind == "log"]
    assert entry.time == datetime(2026, 11, 22, 14, 5, tzinfo=UTC) and entry.author == "U0USER1" and entry.key


def test_log_in_the_callers_zone_shows_both_zones(make_bot, standin):
    standin.add_user("U0USER1", tz="America/New_York")
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 15, 0, tzinfo=UTC), default_timezone="Europe/Berlin")
    channel = open_incident(bot)
    reply = bot.text("log 09:05 paged", channel_id=channel)
    assert reply == ("Logged for INC-1 at 2026-11-22 15:05 CET (UTC+01:00) "
                     "(your time: 2026-11-22 09:05 EST (UTC-05:00)): paged")


def test_log_across_midnight_is_yesterday(make_bot):
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 0, 10, tzinfo=UTC))
    channel = open_incident(bot)
    assert "2026-11-21 23:50 UTC" in bot.text("log 23:50 deploy began", channel_id=channel)


def test_log_the_word_payload_is_just_text(bot):
    # Bolt alone would parse this form body as an interactivity payload and answer 404
    channel = open_incident(bot)
    reply = bot.text("log payload service returned 500s", channel_id=channel)
    assert reply.endswith("payload service returned 500s")


def test_log_number_first_is_text(bot):
    channel = open_incident(bot)
    assert bot.text("log 500 errors on checkout", channel_id=channel).endswith(": 500 errors on checkout")


@pytest.mark.parametrize("text", ["log 25:99 restart", "log 2026-02-30 10:00 x", "log 14:05 PST x",
                                  "log 2099-01-01 10:00 from the future"])
def test_log_refuses_bad_times_and_stores_nothing(bot, text):
    channel = open_incident(bot)
    reply = bot.text(text, channel_id=channel)
    assert reply.startswith(":warning:")
    assert not [i for i in bot.timeline(1) if i.kind == "log"]


def test_log_needs_text(bot):
    channel = open_incident(bot)
    assert "Nothing to log" in bot.text("log", channel_id=channel)
    assert "Add what happened" in bot.text("log 14:05", channel_id=channel)


def test_log_echo_never_pings(bot):
    channel = open_incident(bot)
    reply = bot.text("log told <!channel> and <!here> about <@U0BOB|bob> <https://evil|here>", channel_id=channel)
    assert not LIVE_TOKEN.search(reply) and "<@U0BOB" not in reply
    assert "told @channel and @here about @bob here (https://evil)" in reply


def test_users_info_is_cached(bot, standin):
    channel = open_incident(bot)
    for i in range(3):
        bot.command(f"log entry {i}", channel_id=channel)
    assert len(standin.calls_to("users.info")) == 1


def test_users_info_failure_falls_back_to_default_timezone(make_bot, standin):
    standin.fail("users.info", status=500, times=None)
    bot = make_bot(default_timezone="Europe/Berlin", clock=lambda: datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    channel = open_incident(bot)
    assert "2026-07-01 13:00 CEST (UTC+02:00)" in bot.text("log 13:00 x", channel_id=channel)


# --- milestones ---------------------------------------------------------------------------------


def test_milestones_set_replace_and_clear(make_bot, standin):
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 15, 0, tzinfo=UTC))
    channel = open_incident(bot)
    bot.command("detected 14:00", channel_id=channel)
    assert bot.text("mitigated 14:30 failover done", channel_id=channel) == (
        "Mitigated for INC-1: 2026-11-22 14:30 UTC. Note: failover done")
    reply = bot.text("mitigated 14:40", channel_id=channel)
    assert "was 2026-11-22 14:30 UTC" in reply
    items = bot.timeline(1)
    [current] = [i for i in items if i.milestone == "mitigated" and i.key]
    assert current.time == datetime(2026, 11, 22, 14, 40, tzinfo=UTC)
    history = [i for i in items if i.milestone == "mitigated" and not i.key]
    assert len(history) == 1 and "14:30" in history[0].text
    assert bot.incident(1).status == "mitigated"

    assert "Mitigated cleared" in bot.text("mitigated clear", channel_id=channel)
    assert not [i for i in bot.timeline(1) if i.milestone == "mitigated" and i.key]
    assert bot.incident(1).status == "open"
    assert "nothing to clear" in bot.text("mitigated clear", channel_id=channel)


def test_explicit_detected_replaces_the_default(make_bot):
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 15, 0, tzinfo=UTC))
    channel = open_incident(bot)
    reply = bot.text("detected 14:50", channel_id=channel)
    assert "was 2026-11-22 15:00 UTC" in reply
    [detected] = [i for i in bot.timeline(1) if i.milestone == "detected" and i.key]
    assert detected.time == datetime(2026, 11, 22, 14, 50, tzinfo=UTC)


def test_out_of_order_milestones_are_warned_about(make_bot):
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 15, 0, tzinfo=UTC))
    channel = open_incident(bot)
    bot.command("detected 14:00", channel_id=channel)
    reply = bot.text("mitigated 13:00", channel_id=channel)
    assert ":warning: Mitigated is recorded before detected" in reply


def test_resolved_updates_status_and_header(bot, standin):
    channel = open_incident(bot)
    standin.reset()
    bot.command("resolved all clear", channel_id=channel)
    bot.drain()
    assert bot.incident(1).status == "resolved"
    [update] = standin.calls_to("chat.update")
    assert update["ts"] == bot.incident(1).header_ts and "Resolved" in update["text"]
    [announce] = [c for c in standin.calls_to("chat.postMessage") if c["channel"] == channel and "<!date^" in c["text"]]
    assert "resolved" in announce["text"]


def test_header_updates_are_coalesced(bot, standin):
    channel = open_incident(bot)
    standin.reset()
    for sev in ("sev1", "sev2", "sev3"):
        bot.command(f"severity {sev}", channel_id=channel)
    bot.drain()
    updates = standin.calls_to("chat.update")
    assert len(updates) == 1 and "SEV3" in updates[0]["text"]


# --- severity, roles, fields ---------------------------------------------------------------------


def test_severity_role_summary_impact_timezone(bot, standin):
    channel = open_incident(bot, "Checkout errors")
    assert "now SEV1" in bot.text("severity SEV1", channel_id=channel)
    assert "already SEV1" in bot.text("severity sev1", channel_id=channel)
    assert "Usage" in bot.text("severity critical", channel_id=channel)
    assert bot.text("role commander <@U0BOB|bob>", channel_id=channel) == (
        "INC-1: <@U0BOB> is commander (was <@U0USER1>).")
    assert "Usage" in bot.text("role comms nobody", channel_id=channel)
    bot.command("role comms <@U0DANA|dana>", channel_id=channel)
    bot.command("summary Card payments failed <!here>", channel_id=channel)
    bot.command("impact 30% of checkouts", channel_id=channel)
    assert "Europe/Berlin" in bot.text("timezone europe/berlin", channel_id=channel)
    assert "not a time zone" in bot.text("timezone Mars/Olympus", channel_id=channel)
    incident = bot.incident(1)
    assert (incident.severity, incident.commander_id, incident.display_tz) == ("sev1", "U0BOB", "Europe/Berlin")
    bot.drain()
    header = standin.calls_to("chat.update")[-1]
    rendered = str(header["blocks"])
    assert "SEV1" in rendered and "<@U0BOB>" in rendered and "<@U0DANA>" in rendered
    assert "Card payments failed @here" in rendered and "<!here>" not in rendered
    assert "Europe/Berlin" in rendered


def test_status_shows_metrics_and_milestones(make_bot):
    bot = make_bot(clock=lambda: datetime(2026, 11, 22, 15, 0, tzinfo=UTC))
    channel = open_incident(bot)
    bot.command("started 13:54", channel_id=channel)
    bot.command("mitigated 14:40", channel_id=channel)
    reply = bot.command("status", channel_id=channel)
    text = str(reply["blocks"])
    assert "*Time to detect*: 1 h 6 min" in text
    assert "*Time to mitigate*: 46 min" in text
    assert "*Time to resolve*: not recorded" in text


# --- the request path ---------------------------------------------------------------------------


def test_forged_and_stale_signatures_are_rejected_and_nothing_stored(bot):
    body, headers = sr.slash_command("start Forged", secret="not-the-secret")
    assert bot.post(body, headers).status == 401
    body, headers = sr.slash_command("start Stale", timestamp=int(datetime.now(UTC).timestamp()) - 301)
    assert bot.post(body, headers).status == 401
    body, headers = sr.slash_command("start Tampered")
    assert bot.post(body.replace("Tampered", "Changed"), headers).status == 401
    assert bot.incident(1) is None
    assert not bot.standin.calls_to("conversations.create")


def test_an_acknowledged_command_is_already_committed(bot):
    channel = open_incident(bot)
    bot.command("log committed before the ack", channel_id=channel)
    # a fresh connection (another process, in effect) sees it at once
    from storage.db import Database

    other = Database(bot.settings.database_url)
    try:
        from bot.timeline import load

        with other.read() as session:
            assert any(i.text == "committed before the ack" for i in load(session, 1, "pushpin"))
    finally:
        other.dispose()
