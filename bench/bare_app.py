"""A bare Bolt app under the bot's own HTTP server, that only acknowledges: the comparison point.

    python bench/bare_app.py default 3001   # Bolt's defaults (polls for ack() every 10 ms)
    python bench/bare_app.py floor 3002     # process_before_response=True: HTTP, signature, routing
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import load_settings
from bot.server import run_http
from bot.slack_wsgi import wsgi_app


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    settings = load_settings(port=port)

    def make_wsgi():
        client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        app = App(client=client, signing_secret=settings.slack_signing_secret.get_secret_value(),
                  process_before_response=(mode == "floor"))

        @app.command("/incident")
        def command(ack):
            ack()

        @app.event("message")
        def message():
            pass

        class NoDatabase:
            def ping(self):
                return True

        return wsgi_app(app, NoDatabase())

    run_http(settings, make_wsgi)


if __name__ == "__main__":
    main()
