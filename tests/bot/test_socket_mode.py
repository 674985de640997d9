"""Socket Mode: `incident-bot run` with SLACK_APP_TOKEN connects to a local WebSocket stand-in,
which sends a slash command and an event envelope and reads the bot's acks."""

from __future__ import annotations

import json
import time

import pytest

from tests.bot.test_server import cli
from tests.support import slack_requests as sr
from tests.support.process import BotProcess, free_port
from tests.support.socket_standin import SocketModeStandIn

pytestmark = pytest.mark.slow

APP_TOKEN = "xapp-1-A0001-socket-mode-token"


@pytest.fixture
def socket_standin(standin):
    server = SocketModeStandIn().start()
    standin.ws_url = server.url
    yield server
    server.stop()


def test_commands_and_events_over_socket_mode(database_url, standin, socket_standin):
    process = BotProcess({
        "SLACK_API_URL": standin.api_url,
        "DATABASE_URL": database_url,
        "SLACK_APP_TOKEN": "xapp-1-A0001-socket-mode-token",
        "SLACK_SIGNING_SECRET": "",
    })
    try:
        process.start(wait=False)
        assert socket_standin.connected.wait(30), process.output()
        [connect] = standin.calls_to("apps.connections.open")
        assert connect.headers["authorization"] == "Bearer xapp-1-A0001-socket-mode-token"

        command = sr.slash_command_fields("start Socket outage sev2", response_url=standin.response_url())
        envelope_id = socket_standin.send("slash_commands", command, accepts_response_payload=True)
        ack = socket_standin.ack(envelope_id)
        assert "INC-1" in ack["payload"]["text"] and ack["payload"]["response_type"] == "in_channel"
        channel = next(iter(standin.channels))

        # the word "payload" is only a problem for HTTP form bodies; here it must simply work too
        command = sr.slash_command_fields("log payload errors", channel_id=channel)
        ack = socket_standin.ack(socket_standin.send("slash_commands", command, accepts_response_payload=True))
        assert ack["payload"]["text"].endswith("payload errors")

        event = sr.envelope(sr.message("said over the socket", channel=channel), event_id="Ev0SOCKET")
        assert socket_standin.ack(socket_standin.send("events_api", event))["envelope_id"]
        # a redelivery (retry_attempt 1) is acknowledged and stored nothing twice
        assert socket_standin.ack(socket_standin.send("events_api", event, retry_attempt=1))

        assert process.terminate() == 0
        assert "stopped cleanly" in process.output()
    finally:
        process.close()
    items = json.loads(cli(database_url, "timeline", "1", "--json").stdout)
    assert [i["text"] for i in items if i["kind"] == "message"] == ["said over the socket"]
    assert [i["text"] for i in items if i["kind"] == "log"] == ["payload errors"]


def socket_process(database_url: str, standin, **env) -> BotProcess:
    return BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url,
                       "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": "", **env})


def wait_for_output(process: BotProcess, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.output():
            return True
        time.sleep(0.05)
    return False


def test_connected_is_said_only_once_slack_said_hello(database_url, standin, socket_standin):
    socket_standin.release_hello.clear()
    process = socket_process(database_url, standin)
    try:
        process.start(wait=False)
        assert socket_standin.opened.wait(30), process.output()
        # the WebSocket is open but Slack has not accepted it yet: the log must not claim more
        assert not wait_for_output(process, "connected (Socket Mode)", timeout=1.5), process.output()
        socket_standin.release_hello.set()
        assert wait_for_output(process, "connected (Socket Mode)", timeout=10), process.output()
        assert process.terminate() == 0
    finally:
        process.close()


def test_a_rejected_app_token_stops_start_up_with_one_clear_line(database_url, standin, socket_standin):
    standin.fail("apps.connections.open", "invalid_auth", times=None)
    process = socket_process(database_url, standin)
    try:
        process.start(wait=False)
        assert process.proc.wait(30) == 2
        output = process.output()
        last = output.strip().splitlines()[-1]
        assert last.startswith("incident-bot: SLACK_APP_TOKEN was rejected by Slack (invalid_auth)")
        assert "connections:write" in last  # what to do next
        assert "Traceback" not in output and "stopped cleanly" not in output and "WSS URL" not in output
        assert APP_TOKEN not in output
        assert not socket_standin.opened.is_set()
    finally:
        process.close()


@pytest.mark.parametrize("app_token", [APP_TOKEN, ""], ids=["socket-mode", "http"])
def test_an_unreachable_slack_at_start_is_one_line(tmp_path, app_token):
    dead = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    process = BotProcess({"SLACK_API_URL": dead, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
                          "SLACK_APP_TOKEN": app_token})
    try:
        process.start(wait=False)
        assert process.proc.wait(60) == 1
        lines = [line for line in process.output().splitlines()
                 if line.strip() and "alembic" not in line and "bot.cli: database:" not in line]
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"incident-bot: Slack at {dead} did not answer") and "Connection refused" in lines[0]
    finally:
        process.close()


def test_a_socket_mode_connection_slack_never_accepts_is_one_line(database_url, standin):
    standin.ws_url = f"ws://127.0.0.1:{free_port()}/link/?ticket=t"  # nothing listens there
    process = socket_process(database_url, standin)
    try:
        process.start(wait=False)
        assert process.proc.wait(60) == 1
        output = process.output()
        last = output.strip().splitlines()[-1]
        assert last.startswith("incident-bot: Slack did not accept the Socket Mode connection"), output
        assert "Connection refused" in last
        assert "connected (Socket Mode)" not in output and "Traceback" not in output
        assert "Failed to establish" not in output  # the SDK's own error line is said once, by us
    finally:
        process.close()


def test_socket_mode_serves_healthz_and_the_web_view_on_port_but_not_slack_events(database_url, standin,
                                                                                   socket_standin):
    process = socket_process(database_url, standin, WEB_AUTH="none")
    try:
        process.start(wait=False)
        assert wait_for_output(process, "connected (Socket Mode)", timeout=30), process.output()
        process.wait_healthy()
        assert process.get("/healthz")[0] == 200
        status, body = process.get("/incidents")
        assert status == 200 and "WEB_AUTH=none" in body  # the web view, with its banner
        conn = process.connection()
        try:  # no signing secret in Socket Mode: nothing may reach Bolt over HTTP
            conn.request("POST", "/slack/events", body="{}", headers={"Content-Type": "application/json"})
            assert conn.getresponse().status == 404
        finally:
            conn.close()
        assert f"listening on port {process.port}" in process.output()
        assert process.terminate() == 0 and "stopped cleanly" in process.output()
    finally:
        process.close()
