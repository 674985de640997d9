"""`incident-bot run` as a real process in HTTP mode, against the Web API stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.support import slack_requests as sr
from tests.support.process import REPO, BotProcess

pytestmark = pytest.mark.slow


def cli(database_url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO),
                "DATABASE_URL": database_url}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=full_env, capture_output=True, text=True,
                          timeout=60, cwd="/tmp", check=False)


@pytest.fixture
def server(database_url, standin):
    # SLACK_API_URL without its trailing slash must work too
    process = BotProcess({"SLACK_API_URL": standin.api_url.rstrip("/"), "DATABASE_URL": database_url})
    yield process.start()
    process.close()


def start_incident(server, standin, title="Checkout errors sev1") -> str:
    body, headers = sr.slash_command(f"start {title}", response_url=standin.response_url())
    status, reply = server.post(body, headers)
    assert status == 200, reply
    assert "INC-" in json.loads(reply)["text"]
    [created] = [c for c in standin.calls_to("conversations.create")][-1:]
    return next(c.id for c in standin.channels.values() if c.name == created["name"])


def test_serves_slack_and_health(server, standin, database_url):
    assert server.get("/healthz") == (200, '{"ok":true}')
    assert server.get("/nowhere")[0] == 404
    status, page = server.get("/incidents")  # the web view, beside Slack's path: off until configured
    assert status == 503 and "SLACK_CLIENT_ID" in page
    channel = start_incident(server, standin)
    standin.wait_for("chat.postMessage")  # the header, posted by the outbox in the background
    standin.wait_for("conversations.invite")

    body, headers = sr.slash_command("log 12:00 UTC payload queue stalled", channel_id=channel)
    status, reply = server.post(body, headers)
    assert status == 200 and "payload queue stalled" in json.loads(reply)["text"]

    event = sr.message("captured over HTTP", channel=channel)
    body, headers = sr.event_request(event)
    assert server.post(body, headers)[0] == 200
    body, headers = sr.event_request(event, retry_num=1)
    assert server.post(body, headers)[0] == 200

    body, headers = sr.event_request({"type": "reaction_added", "user": "U2", "reaction": "pushpin",
                                      "item": {"type": "message", "channel": channel, "ts": event["ts"]},
                                      "event_ts": sr.next_ts()})
    assert server.post(body, headers)[0] == 200

    url_check = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    status, reply = server.post(url_check, sr.signed_headers(url_check, content_type="application/json"))
    assert status == 200 and "abc123" in reply

    result = cli(database_url, "timeline", "INC-1", "--json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    [message] = [i for i in items if i["kind"] == "message"]
    assert message["text"] == "captured over HTTP" and message["key"] is True
    assert message["time"].endswith("Z")
    [log] = [i for i in items if i["kind"] == "log"]
    assert log["text"] == "payload queue stalled" and log["author"] == "U0USER1"
    assert any(i["kind"] == "milestone" and i["milestone"] == "detected" for i in items)

    listing = json.loads(cli(database_url, "incidents", "--json").stdout)
    assert listing[0]["ref"] == "INC-1" and listing[0]["severity"] == "sev1" and listing[0]["channel"] == channel
    assert listing[0]["detected"].endswith("Z") and listing[0]["resolved"] is None


def test_forged_signatures_are_rejected(server, standin):
    body, headers = sr.slash_command("start Forged", secret="wrong-secret")
    assert server.post(body, headers)[0] == 401
    body, headers = sr.slash_command("start Stale", timestamp=int(time.time()) - 600)
    assert server.post(body, headers)[0] == 401
    assert standin.calls_to("conversations.create") == []


def test_acknowledged_entries_survive_kill_9(database_url, standin):
    server = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url}).start()
    try:
        channel = start_incident(server, standin)
        for i in range(20):
            body, headers = sr.slash_command(f"log entry {i}", channel_id=channel)
            status, reply = server.post(body, headers)
            assert status == 200 and f"entry {i}" in json.loads(reply)["text"]
        server.kill()  # SIGKILL the whole process group, mid-flight
    finally:
        server.close()
    restarted = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url}).start()
    try:
        items = json.loads(cli(database_url, "timeline", "1", "--json").stdout)
        assert sorted(i["text"] for i in items if i["kind"] == "log") == sorted(f"entry {i}" for i in range(20))
    finally:
        restarted.close()


def test_sigterm_stops_cleanly(server, standin):
    start_incident(server, standin)
    assert server.terminate() == 0
    assert "stopped cleanly" in server.output()


def test_sigterm_finishes_the_request_in_flight(database_url, standin):
    """A deploy stops the bot while someone's `/incident log` is being handled: it is answered and kept."""
    import threading

    server = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url,
                         "REMINDERS_ENABLED": "true"}).start()
    try:
        channel = start_incident(server, standin)
        standin.fail("users.info", delay=0.8)  # a new caller's zone is looked up: the request takes a while
        body, headers = sr.slash_command("log 12:00 UTC rolled back during the deploy", channel_id=channel,
                                         user_id="U0NEWCOMER")
        answered: dict = {}
        request = threading.Thread(target=lambda: answered.update(reply=server.post(body, headers)))
        request.start()
        standin.wait_for("users.info")  # it is in flight now
        assert server.terminate() == 0
        request.join(10)
        status, reply = answered["reply"]
        assert status == 200 and "rolled back during the deploy" in json.loads(reply)["text"]
        output = server.output()
        assert "stopped cleanly" in output and "Traceback" not in output
    finally:
        server.close()
    items = json.loads(cli(database_url, "timeline", "1", "--json").stdout)
    assert [i["text"] for i in items if i["kind"] == "log"] == ["rolled back during the deploy"]


def test_tokens_and_secrets_never_reach_the_log(database_url, standin):
    secret_token = "xoxb-1111-2222-SECRETTOKENVALUE"
    server = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url,
                         "SLACK_BOT_TOKEN": secret_token, "LOG_LEVEL": "DEBUG"}).start()
    try:
        start_incident(server, standin)
        standin.wait_for("chat.postMessage")
        server.terminate()
        output = server.output()
        assert "DEBUG" in output  # it did log in detail
        assert secret_token not in output and "SECRETTOKENVALUE" not in output
        assert sr.SIGNING_SECRET not in output
    finally:
        server.close()


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is missing"),
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is missing"),
        ({"SLACK_BOT_TOKEN": "xapp-swapped"}, "SLACK_BOT_TOKEN is invalid: must be a bot token starting with xoxb-"),
        ({"REMINDER_INTERVAL_MINUTES": "hourly"}, "REMINDER_INTERVAL_MINUTES is invalid"),
        ({"DEFAULT_TIMEZONE": "Mars/Base"}, "DEFAULT_TIMEZONE is invalid"),
        ({"PORT": "99999"}, "PORT is invalid"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL is invalid"),
        ({"INCIDENT_CHANNEL_MODE": "sometimes"}, "INCIDENT_CHANNEL_MODE is invalid"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_clear_line(database_url, standin, env, fragment):
    process = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url, **env})
    try:
        process.start(wait=False)
        assert process.proc.wait(30) == 2
        lines = [line for line in process.output().splitlines() if line.strip()]
        assert len(lines) == 1 and fragment in lines[0], lines
        assert "xapp-swapped" not in lines[0]
    finally:
        process.close()


def test_a_rejected_token_stops_start_up_with_one_clear_line(database_url, standin):
    standin.fail("auth.test", "invalid_auth", times=None)
    process = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url})
    try:
        process.start(wait=False)
        assert process.proc.wait(30) == 2
        assert "SLACK_BOT_TOKEN was rejected by Slack (invalid_auth)" in process.output()
    finally:
        process.close()


def test_db_upgrade_and_cli_need_only_the_database(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    result = cli(url, "db", "upgrade")
    assert result.returncode == 0 and "is at revision" in result.stdout
    assert cli(url, "incidents").stdout.strip() == "No incidents yet."
    assert json.loads(cli(url, "incidents", "--json").stdout) == []
    missing = cli(url, "timeline", "INC-9")
    assert missing.returncode == 1 and "there is no INC-9" in missing.stderr
    assert cli(url, "timeline", "nine").returncode == 2


def test_the_postmortem_flow_against_the_real_server(server, standin):
    """resolved -> prompts by DM -> an answer through a modal -> the draft uploaded, all over HTTP."""
    channel = start_incident(server, standin, "Search is slow sev3")
    body, headers = sr.slash_command("log rebuild started by cron", channel_id=channel)
    assert server.post(body, headers)[0] == 200
    body, headers = sr.event_request(sr.message("the index is rebuilding", user="U0BOB", channel=channel))
    assert server.post(body, headers)[0] == 200
    body, headers = sr.slash_command("resolved", channel_id=channel)
    assert server.post(body, headers)[0] == 200
    opened = standin.wait_for("conversations.open", 2, timeout=20)  # paced: one DM a second
    assert {c["users"] for c in opened} == {"U0USER1", "U0BOB"}

    payload = sr.view_submission("postmortem_root_cause", {
        "root_cause": {"value": {"type": "plain_text_input", "value": "An index rebuild ran at peak time"}},
        "contributing_factors": {"value": {"type": "plain_text_input", "value": ""}},
    }, user_id="U0BOB", private_metadata="1")
    body, headers = sr.interactivity_request(payload)
    status, reply = server.post(body, headers)
    assert status == 200 and reply in ("", "{}"), reply

    body, headers = sr.slash_command("draft brief", command="/postmortem", channel_id=channel)
    status, reply = server.post(body, headers)
    assert status == 200 and "draft v1" in json.loads(reply)["text"]
    [complete] = standin.wait_for("files.completeUploadExternal", timeout=20)
    files = complete["files"]
    file_id = (json.loads(files) if isinstance(files, str) else files)[0]["id"]
    markdown = standin.uploads[file_id].decode()
    assert markdown.startswith("# INC-1: Search is slow")
    assert "An index rebuild ran at peak time" in markdown
