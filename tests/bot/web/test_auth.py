"""Sign in with Slack (OpenID Connect) through the stand-in provider, the session cookie, sign-out,
and the web view turned off or opened without sign-in (docs/web.md)."""

from __future__ import annotations

import logging
import os
import time
from http.cookies import SimpleCookie

import pytest

from bot.config import ConfigError
from tests.support.slack_requests import SIGNING_SECRET
from tests.support.web import BASE_URL, CLIENT_ID, client_for, csrf, follow_to_slack, local, sign_in, web_settings


def _message(response) -> str:
    import re

    found = re.search(r'<p class="message">(.*?)</p>', response.get_data(as_text=True), re.S)
    return found.group(1) if found else ""


def _cookie(response) -> SimpleCookie:
    cookie = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        cookie.load(header)
    return cookie


def test_pages_send_the_signed_out_to_login_which_goes_to_slacks_authorize_endpoint(client, standin):
    page = client.get("/incidents/7?page=2")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/incidents/7?page%3D2"
    start = client.get(page.headers["Location"])
    assert start.status_code == 302
    target = start.headers["Location"]
    assert target.startswith(f"{standin.base_url}/openid/connect/authorize?")
    for part in ("response_type=code", "scope=openid+email+profile", f"client_id={CLIENT_ID}", "state=", "nonce=",
                 "redirect_uri=http%3A%2F%2Fbot.test%2Fauth%2Fslack%2Fcallback"):
        assert part in target


def test_sign_in_lands_on_the_page_asked_for_and_names_the_person(bot, client, standin):
    done = sign_in(client, standin, "U0USER1", name="Alice", next_path="/actions")
    assert done.status_code == 302 and done.headers["Location"] == "/actions"
    page = client.get("/actions")
    assert page.status_code == 200 and "Signed in as Alice" in page.get_data(as_text=True)
    [token_call] = standin.calls_to("openid.connect.token")
    assert token_call["redirect_uri"] == f"{BASE_URL}/auth/slack/callback"


@pytest.mark.parametrize("guest", ["multi", "single"])
def test_a_guest_of_the_workspace_is_not_signed_in(client, standin, guest):
    standin.add_user("U0GUEST", name="visitor", guest=guest)
    done = sign_in(client, standin, "U0GUEST")
    assert done.status_code == 403 and _message(done).startswith("The web view is for members of the workspace, not guests")
    assert client.get("/incidents").status_code == 302  # not signed in
    assert [c["user"] for c in standin.calls_to("users.info")] == ["U0GUEST"]


def test_when_slack_cannot_say_whether_someone_is_a_guest_nobody_is_signed_in(client, standin):
    standin.fail("users.info", "internal_error")
    done = sign_in(client, standin, "U0USER1")
    assert done.status_code == 503 and _message(done) == ("Slack did not say whether you are a member of the "
                                                          "workspace: sign in again in a minute.")
    assert client.get("/incidents").status_code == 302
    assert sign_in(client, standin, "U0USER1").headers["Location"] == "/incidents"


def test_the_session_cookie_is_httponly_lax_and_expires(client, standin):
    done = sign_in(client, standin)
    morsel = _cookie(done)["incident_bot_session"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["expires"]
    assert not morsel["secure"]  # WEB_BASE_URL is http here


def test_the_cookie_is_secure_when_the_site_is_https(make_web, standin):
    bot, client = make_web(web_base_url="https://bot.example.com")
    done = sign_in(client, standin)
    assert _cookie(done)["incident_bot_session"]["secure"]


def test_a_changed_cookie_is_not_a_session(client, standin):
    sign_in(client, standin)
    value = client.get_cookie("incident_bot_session").value
    client.set_cookie("incident_bot_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"),
                      domain="localhost")
    assert client.get("/incidents").status_code == 302


@pytest.mark.parametrize(("claims", "says"), [
    ({"team_id": "T0OTHER"}, "another Slack workspace"),
    ({"nonce": "not-the-one-sent"}, "not the one this browser started"),
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"aud": "9999.8888"}, "could not be verified"),
    ({"iss": "https://evil.example"}, "could not be verified"),
    ({"signed_by_stranger": True}, "could not be verified"),
])
def test_an_id_token_that_fails_a_check_signs_nobody_in(client, standin, claims, says):
    done = sign_in(client, standin, **claims)
    assert done.status_code == 400 and says in _message(done)
    assert client.get("/incidents").status_code == 302  # still signed out


def test_a_callback_without_the_browsers_state_is_refused(client, standin):
    standin.sign_in_as("U0USER1")
    start = client.get("/login")
    callback = local(follow_to_slack(start.headers["Location"]))
    forged = callback.replace("state=", "state=x")
    assert client.get(forged).status_code == 400
    assert client.get(callback).status_code == 400  # the state was used up by the forged attempt
    assert not standin.calls_to("openid.connect.token")


def test_a_code_from_another_browser_is_refused(make_web, standin):
    _, mallory = make_web()
    _, victim = make_web()
    standin.sign_in_as("U0MALLORY")
    callback = local(follow_to_slack(mallory.get("/login").headers["Location"]))
    assert victim.get(callback).status_code == 400  # no sign-in was started in the victim's browser


def test_declining_at_slack_says_so(client, standin):
    standin.sign_in_as(None)
    start = client.get("/login")
    done = client.get(local(follow_to_slack(start.headers["Location"])))
    assert done.status_code == 400 and "access_denied" in _message(done)


def test_slack_refusing_the_code_is_one_line(client, standin):
    standin.fail("openid.connect.token", "invalid_code")
    done = sign_in(client, standin)
    assert done.status_code == 400 and _message(done).startswith("Slack refused the sign-in (invalid_code)")


def test_login_never_sends_anyone_to_another_site_afterwards(client, standin):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        done = sign_in(client, standin, next_path=target)
        assert done.headers["Location"] == "/incidents", target


@pytest.mark.parametrize("target", ["/\t/evil.example/", "/\n/evil.example/", "/\r/evil.example/", "/ /evil.example/",
                                    "/incidents\r\nX-Evil: 1", "/\x00/evil.example", "http:/evil.example/"])
def test_a_next_with_control_characters_stays_on_the_site(client, standin, target):
    # browsers drop tabs and line breaks from a URL: "/<tab>/evil.example/" would be "//evil.example/"
    done = sign_in(client, standin, next_path=target)
    assert done.status_code == 302 and done.headers["Location"] == "/incidents", repr(target)


@pytest.mark.parametrize("target", ["/\t/evil.example/", "//evil.example/", "/\\evil.example", "https://evil.example/"])
def test_the_zone_switch_goes_back_only_to_this_site(client, standin, target):
    sign_in(client, standin)
    token = csrf(client.get("/incidents").get_data(as_text=True))
    switched = client.post("/zone", data={"csrf_token": token, "zone": "utc", "back": target})
    assert switched.status_code == 303 and switched.headers["Location"] == "/incidents", repr(target)
    kept = client.post("/zone", data={"csrf_token": token, "zone": "own", "back": "/insights?from=2026-01-01"})
    assert kept.headers["Location"] == "/insights?from=2026-01-01"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client, standin):
    sign_in(client, standin)
    assert client.post("/logout").status_code == 403
    assert client.get("/incidents").status_code == 200
    token = csrf(client.get("/incidents").get_data(as_text=True))
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == "/signed-out"
    assert client.get("/incidents").status_code == 302


def test_a_cookie_copied_before_sign_out_is_dead_after_it(make_web, standin):
    bot, client = make_web()
    sign_in(client, standin)
    copied = client.get_cookie("incident_bot_session").value
    other_browser = client_for(bot)
    other_browser.set_cookie("incident_bot_session", copied, domain="localhost")
    assert other_browser.get("/incidents").status_code == 200
    token = csrf(client.get("/incidents").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    client.set_cookie("incident_bot_session", copied, domain="localhost")
    assert client.get("/incidents").status_code == 302
    assert other_browser.get("/incidents").status_code == 302  # signing out ends every session begun before
    sign_in(client, standin)  # ... but not the ones after
    assert client.get("/incidents").status_code == 200


def test_the_session_ends_twelve_hours_after_sign_in_however_often_it_is_written(client, standin, monkeypatch):
    real = time.time
    sign_in(client, standin)
    monkeypatch.setattr(time, "time", lambda: real() + 11 * 3600)
    token = csrf(client.get("/incidents").get_data(as_text=True))
    switched = client.post("/zone", data={"csrf_token": token, "zone": "utc", "back": "/incidents"})
    assert switched.status_code == 303 and client.get("/incidents").status_code == 200  # the cookie was written
    monkeypatch.setattr(time, "time", lambda: real() + 12 * 3600 + 60)
    assert client.get("/incidents").status_code == 302  # 12 hours after sign-in, not after the last write


def test_without_a_client_id_the_pages_say_how_to_turn_them_on(make_bot):
    bot = make_bot()
    client = client_for(bot)
    page = client.get("/incidents")
    assert page.status_code == 503
    assert "SLACK_CLIENT_ID" in _message(page) and "WEB_AUTH=none" in _message(page)
    assert client.get("/healthz").status_code == 200  # the rest of the bot is unaffected


def test_web_auth_none_opens_the_pages_with_a_banner_and_a_warning(make_bot, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        bot = make_bot(web_auth="none")
    assert any("WEB_AUTH=none" in r.getMessage() for r in caplog.records)
    page = client_for(bot).get("/incidents")
    assert page.status_code == 200
    assert 'class="banner warning"' in page.get_data(as_text=True)


def test_sign_in_settings_are_checked_at_start(make_settings, standin):
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET is missing"):
        make_settings(slack_client_id=CLIENT_ID, web_base_url=BASE_URL).require_server()
    with pytest.raises(ConfigError, match="WEB_BASE_URL is missing"):
        make_settings(slack_client_id=CLIENT_ID, slack_client_secret="s").require_server()
    make_settings(**web_settings(standin)).require_server()


def test_bolt_stays_on_the_bot_token_when_the_client_id_is_set(monkeypatch, database_url, standin):
    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", standin.oidc_client_secret)
    monkeypatch.setenv("WEB_BASE_URL", BASE_URL)
    from bot.config import Settings

    settings = Settings(_env_file=None, slack_bot_token="xoxb-test-token-0000", slack_api_url=standin.api_url,
                        slack_signing_secret=SIGNING_SECRET, database_url=database_url,
                        reminders_enabled=False)
    assert settings.sign_in_enabled  # read through the settings ...
    from tests.support.harness import Harness

    bot = Harness(settings, standin)
    try:
        assert bot.runtime.app.oauth_flow is None  # ... and Bolt is not in OAuth mode
        assert "SLACK_CLIENT_ID" not in os.environ
        assert "INC-1" in bot.text("start Checkout down")  # commands work, on the bot token
        assert standin.calls_to("conversations.create")[0].headers["authorization"] == "Bearer xoxb-test-token-0000"
        assert client_for(bot).get("/incidents").status_code == 302  # sign-in is on
    finally:
        bot.close()


@pytest.mark.parametrize(("name", "value", "says"), [
    ("web_base_url", "bot.example.com", "WEB_BASE_URL is invalid: must be the web view's public origin"),
    ("web_base_url", "https://bot.example.com/incidents", "without a path"),
    ("slack_client_id", "my-app", "SLACK_CLIENT_ID is invalid: must be the app's Client ID"),
    ("web_auth", "off", "WEB_AUTH is invalid"),
])
def test_a_malformed_web_setting_is_one_line_naming_it(name, value, says):
    from bot.config import load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, **{name: value})
    assert says in str(raised.value) and "\n" not in str(raised.value)
