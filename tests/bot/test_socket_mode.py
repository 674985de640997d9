"""Socket Mode: `incident-bot run` with SLACK_APP_TOKEN connects to a local WebSocket stand-in,
which sends a slash command and an event envelope and reads the bot's acks."""

from __future__ import annotations

import json

import pytest

from tests.bot.test_server import cli
from tests.support import slack_requests as sr
from tests.support.process import BotProcess
from tests.support.socket_standin import SocketModeStandIn

pytestmark = pytest.mark.slow


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
