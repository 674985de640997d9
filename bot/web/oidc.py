"""Sign in with Slack (OpenID Connect), the three steps that talk to Slack.

1. `authorize_url`: the origin of SLACK_API_URL + /openid/connect/authorize, with `state` and `nonce`
   (so a stand-in of Slack serves the whole flow);
2. `exchange`: the code for tokens with `openid.connect.token` through SLACK_API_URL;
3. `verify`: the id token's RS256 signature against the keys at that origin's /openid/connect/keys,
   its issuer (that origin), audience (SLACK_CLIENT_ID), expiry and nonce, and that it was issued
   for the bot's own workspace (`https://slack.com/team_id`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import jwt
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings

SCOPES = "openid email profile"
CALLBACK_PATH = "/auth/slack/callback"
TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"
LEEWAY_SECONDS = 60  # clocks differ a little
TIMEOUT_SECONDS = 5


class SignInFailed(Exception):
    """Sign-in did not work; str() is one line for the person, saying what to do."""


@dataclass(frozen=True)
class Identity:
    user_id: str
    team_id: str
    name: str | None


def origin(settings: Settings) -> str:
    """`https://slack.com` for the default SLACK_API_URL: the issuer and the home of the endpoints."""
    parts = urlsplit(settings.slack_api_url)
    return f"{parts.scheme}://{parts.netloc}"


def redirect_uri(settings: Settings) -> str:
    return f"{settings.web_base_url}{CALLBACK_PATH}"


def authorize_url(settings: Settings, state: str, nonce: str) -> str:
    query = urlencode({"response_type": "code", "scope": SCOPES, "client_id": settings.slack_client_id,
                       "state": state, "nonce": nonce, "redirect_uri": redirect_uri(settings)})
    return f"{origin(settings)}/openid/connect/authorize?{query}"


def exchange(settings: Settings, code: str) -> str:
    """The id token for an authorization code."""
    client = WebClient(base_url=settings.slack_api_url, timeout=TIMEOUT_SECONDS)
    try:
        response = client.openid_connect_token(
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret.get_secret_value(),
            code=code, redirect_uri=redirect_uri(settings))
    except SlackApiError as exc:
        raise SignInFailed(f"Slack refused the sign-in ({(exc.response or {}).get('error')}): "
                           "sign in again; if it keeps failing, check SLACK_CLIENT_ID and SLACK_CLIENT_SECRET") from None
    except (SlackClientError, OSError):
        raise SignInFailed("Slack did not answer: try signing in again in a minute") from None
    token = response.get("id_token")
    if not token:
        raise SignInFailed("Slack sent no identity: sign in again")
    return token


class Keys:
    """The provider's published signing keys (JWKS), fetched when a new key id appears."""

    def __init__(self, settings: Settings):
        self._client = jwt.PyJWKClient(f"{origin(settings)}/openid/connect/keys", cache_keys=True,
                                       lifespan=3600, timeout=TIMEOUT_SECONDS)

    def for_token(self, token: str):
        try:
            return self._client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise SignInFailed("Slack's signing keys could not be fetched: try signing in again in a minute") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise SignInFailed("Slack's answer was not signed with a key it publishes: sign in again") from None


def verify(settings: Settings, keys: Keys, token: str, nonce: str, team_id: str) -> Identity:
    """The person an id token names, once every check passes; SignInFailed otherwise."""
    try:
        claims = jwt.decode(
            token, keys.for_token(token), algorithms=["RS256"], audience=settings.slack_client_id,
            issuer=origin(settings), leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]})
    except jwt.ExpiredSignatureError:
        raise SignInFailed("The sign-in expired on the way: sign in again") from None
    except jwt.InvalidTokenError:
        raise SignInFailed("Slack's answer could not be verified: sign in again") from None
    if not hmac.compare_digest(str(claims.get("nonce")), nonce):
        raise SignInFailed("The sign-in was not the one this browser started: sign in again")
    if claims.get(TEAM_CLAIM) != team_id:
        raise SignInFailed("You signed in to another Slack workspace: sign in to the one the bot is installed in")
    user_id = claims.get(USER_CLAIM) or claims["sub"]
    return Identity(user_id=str(user_id), team_id=str(claims[TEAM_CLAIM]), name=claims.get("name"))
