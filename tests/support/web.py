"""The web view in tests: a browser-like client (cookies, no JavaScript) over the bot's own WSGI app,
and signing in through the Slack stand-in's OpenID provider, the way a browser would."""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import urlsplit

from werkzeug.test import Client

CLIENT_ID = "1111111111.2222222222222"
BASE_URL = "http://bot.test"


def web_settings(standin, **overrides) -> dict:
    """Settings that turn Sign in with Slack on against the stand-in."""
    return {"slack_client_id": CLIENT_ID, "slack_client_secret": standin.oidc_client_secret,
            "web_base_url": BASE_URL, **overrides}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def follow_to_slack(location: str) -> str:
    """What Slack's authorize page answers (the stand-in signs in at once): the callback URL."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(location, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302, exc.code
        return exc.headers["Location"]
    raise AssertionError("the authorize endpoint did not redirect")


def local(url: str) -> str:
    """The path and query of a URL on the bot's own site."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in(client: Client, standin, user_id: str = "U0USER1", name: str | None = None, next_path: str = "/incidents",
            **claims):
    """Sign in as `user_id` through /login, the stand-in's authorize endpoint and the callback."""
    standin.sign_in_as(user_id, name=name, **claims)
    start = client.get("/login", query_string={"next": next_path})
    assert start.status_code == 302, start.status_code
    callback = follow_to_slack(start.headers["Location"])
    return client.get(local(callback))


def csrf(page_html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def client_for(bot) -> Client:
    return Client(bot.app)
