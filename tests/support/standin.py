"""A local stand-in for Slack's Web API: answers the methods the bot calls and records every call.

Point the bot at it with `SLACK_API_URL=standin.api_url`. It also serves `response_url`s
(`standin.response_url(...)`), the upload URLs of files.uploadV2, and answers
`apps.connections.open` with the URL of a Socket Mode stand-in when one is set.
Faults are injected per method (`fail`): Slack errors, HTTP 429 with Retry-After, 5xx, or slowness.
It is an OpenID provider too (Sign in with Slack, docs/web.md): `/openid/connect/authorize` signs in
whoever `sign_in_as` names and redirects back with a code, `openid.connect.token` answers an id token
signed with an RSA key made for this run, and `/openid/connect/keys` publishes that key.
`while_answering(method, hook)` runs `hook(call)` before a method is answered, as if something else
happened while the bot waited on Slack (a clock moving on, another replica at work).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlparse

from tests.support.http_standin import HTTPStandIn

BOT_USER_ID = "UBOT0001"
BOT_ID = "B0BOT01"
TEAM_ID = "T0001"


@dataclass
class Recorded:
    method: str
    params: dict
    headers: dict
    at: float

    def __getitem__(self, key):
        return self.params[key]

    def get(self, key, default=None):
        return self.params.get(key, default)


@dataclass
class Fault:
    method: str
    error: str | None = None  # Slack error code ({"ok": false, "error": ...})
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0
    times: int | None = 1  # None: forever


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    members: set = field(default_factory=set)


class SlackStandIn(HTTPStandIn):
    name = "slack"

    def __init__(self):
        super().__init__()
        self.responses: list[dict] = []  # what was posted to response_urls
        self.uploads: dict[str, bytes] = {}
        self.users: dict[str, dict] = {}
        self.channels: dict[str, Channel] = {}
        self.history: dict[str, list[dict]] = {}
        self.keep_posts = False  # when True, chat.postMessage adds its message to `history` (with metadata)
        self.replies: dict[tuple[str, str], list[dict]] = {}
        self.hooks: dict[str, list] = {}
        self.ws_url: str | None = None
        self.default_tz = "UTC"
        self.oidc_user: dict | None = None
        self.oidc_client_secret = "standin-client-secret"
        self._codes: dict[str, dict] = {}
        self._rsa = None
        self._stranger = None
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def response_url(self, key: str = "cmd") -> str:
        return f"{self.base_url}/response/{key}"

    # -- set-up and inspection -------------------------------------------------------------------

    def add_user(self, user_id: str, tz: str = "UTC", name: str | None = None,
                 email: str | None = None, guest: str | None = None) -> None:
        """`guest`: None for a full member, "multi" or "single" for a multi- or single-channel guest."""
        self.users[user_id] = {"tz": tz, "name": name or user_id.lower(), "email": email, "guest": guest}

    def add_channel(self, channel_id: str, name: str, private: bool = False, members: tuple[str, ...] = ()) -> None:
        self.channels[channel_id] = Channel(channel_id, name, private, set(members))

    def fail(self, method: str, error: str | None = None, *, status: int = 200, retry_after: int | None = None,
             delay: float = 0.0, times: int | None = 1) -> Fault:
        return self._add_fault(Fault(method, error, status, retry_after, delay, times))

    def clear_faults(self) -> None:
        super().clear_faults()
        with self._lock:
            self.hooks.clear()

    def while_answering(self, method: str, hook) -> None:
        """Run `hook(call)` (in the stand-in's request thread) each time `method` is called, before it
        is answered. The bot is then still waiting for Slack, as it would be on a slow call."""
        with self._lock:
            self.hooks.setdefault(method, []).append(hook)

    def calls_to(self, method: str) -> list[Recorded]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.calls_to(method)
            if len(calls) >= count:
                return calls
            time.sleep(0.02)
        raise AssertionError(f"expected {count} call(s) to {method}, got {len(self.calls_to(method))}")

    # -- request handling -----------------------------------------------------------------------

    # -- OpenID provider -------------------------------------------------------------------------

    def sign_in_as(self, user_id: str | None, *, team_id: str = TEAM_ID, name: str | None = None, **claims) -> None:
        """Who the authorize endpoint signs in next (None: the person declines), and any claims to
        change in their id token (`exp`, `iss`, `aud`, `nonce`; `signed_by_stranger=True` signs it
        with a key the provider does not publish)."""
        self.oidc_user = None if user_id is None else {"user_id": user_id, "team_id": team_id,
                                                         "name": name or user_id.lower(), **claims}

    def _oidc_key(self):
        if self._rsa is None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._rsa

    def _authorize(self, request, url) -> None:
        from urllib.parse import urlencode

        query = dict(parse_qsl(url.query))
        target = query.get("redirect_uri", "")
        if self.oidc_user is None:
            back = {"error": "access_denied", "state": query.get("state", "")}
        else:
            code = f"code-{next(self._ids)}"
            with self._lock:
                self._codes[code] = {"nonce": query.get("nonce"), "client_id": query.get("client_id"),
                                     "redirect_uri": target, "user": dict(self.oidc_user)}
            back = {"code": code, "state": query.get("state", "")}
        request.send_response(302)
        request.send_header("Location", f"{target}?{urlencode(back)}")
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _api_openid_connect_token(self, params):
        import jwt

        with self._lock:
            grant = self._codes.pop(params.get("code"), None)
        if grant is None or params.get("client_id") != grant["client_id"]:
            return {"ok": False, "error": "invalid_code"}
        if params.get("client_secret") != self.oidc_client_secret:
            return {"ok": False, "error": "invalid_client_secret"}
        if params.get("redirect_uri") != grant["redirect_uri"]:
            return {"ok": False, "error": "bad_redirect_uri"}
        user = dict(grant["user"])
        now = int(time.time())
        claims = {"iss": self.base_url, "sub": user["user_id"], "aud": grant["client_id"], "exp": now + 300,
                  "iat": now, "auth_time": now, "nonce": grant["nonce"], "https://slack.com/team_id": user["team_id"],
                  "https://slack.com/user_id": user["user_id"], "email": f"{user['name']}@example.com",
                  "email_verified": True, "name": user["name"], "locale": "en-US"}
        stranger = user.pop("signed_by_stranger", False)
        claims.update({k: v for k, v in user.items() if k not in ("user_id", "team_id", "name")})
        self._oidc_key()
        key = self._stranger if stranger else self._rsa
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "standin-key-1"})
        return {"ok": True, "access_token": "xoxp-standin-user-token", "token_type": "Bearer", "id_token": token}

    def _keys(self, request) -> None:
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._oidc_key().public_key()))
        jwk.update({"kid": "standin-key-1", "alg": "RS256", "use": "sig"})
        self._json(request, {"keys": [jwk]})

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        if url.path == "/openid/connect/authorize":
            return self._authorize(request, url)
        if url.path == "/openid/connect/keys":
            return self._keys(request)
        if url.path.startswith("/upload/"):
            with self._lock:
                self.uploads[url.path.rsplit("/", 1)[-1]] = raw
            return self._send(request, 200, b"OK", "text/plain")
        if url.path.startswith("/response/"):
            body = json.loads(raw or b"{}")
            body["_key"] = url.path.rsplit("/", 1)[-1]
            with self._lock:
                self.responses.append(body)
            return self._send(request, 200, b"ok", "text/plain")
        if not url.path.startswith("/api/"):
            return self._send(request, 404, b"not found", "text/plain")
        method = url.path[len("/api/"):]
        params = dict(parse_qsl(url.query))
        content_type = headers.get("content-type", "")
        if raw and "json" in content_type:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        basic = headers.get("authorization", "")
        if basic.startswith("Basic "):  # client credentials (openid.connect.token, oauth.v2.access)
            import base64

            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            params.setdefault("client_id", client_id)
            params.setdefault("client_secret", client_secret)
        for key in ("blocks", "users"):
            if isinstance(params.get(key), str) and params[key].startswith("["):
                params[key] = json.loads(params[key])
        fault = self._take_fault(method)
        call = Recorded(method, params, headers, time.time())
        with self._lock:
            self.calls.append(call)
            hooks = list(self.hooks.get(method, ()))
        for hook in hooks:
            hook(call)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status == 429:
                extra = {"Retry-After": str(1 if fault.retry_after is None else fault.retry_after)}
                return self._json(request, {"ok": False, "error": "ratelimited"}, 429, extra)
            if fault.status >= 500:
                return self._json(request, {"ok": False, "error": "internal_error"}, fault.status)
            if fault.error:
                return self._json(request, {"ok": False, "error": fault.error})
        answer = getattr(self, "_api_" + method.replace(".", "_"), None)
        if answer is None:
            return self._json(request, {"ok": False, "error": "unknown_method"})
        return self._json(request, answer(params))

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _json(self, request, body: dict, status: int = 200, extra: dict | None = None) -> None:
        self._send(request, status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    @staticmethod
    def _send(request, status: int, payload: bytes, content_type: str, extra: dict | None = None) -> None:
        HTTPStandIn._write(request, status, payload, {"Content-Type": content_type, **(extra or {})})

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    # -- Web API methods ------------------------------------------------------------------------

    def _api_auth_test(self, params):
        return {"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "incident-bot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _api_users_info(self, params):
        user_id = params.get("user")
        user = self.users.get(user_id, {"tz": self.default_tz, "name": str(user_id).lower()})
        profile = {"display_name": user["name"], "real_name": user["name"].title()}
        if user.get("email"):  # only with the users:read.email scope, as on Slack
            profile["email"] = user["email"]
        guest = user.get("guest")
        return {"ok": True, "user": {"id": user_id, "name": user["name"], "tz": user["tz"],
                                     "real_name": user["name"].title(), "profile": profile,
                                     "is_restricted": guest is not None, "is_ultra_restricted": guest == "single"}}

    def _api_conversations_create(self, params):
        name = params.get("name", "")
        with self._lock:
            if any(c.name == name for c in self.channels.values()):
                return {"ok": False, "error": "name_taken"}
            channel = Channel(f"C{next(self._ids):08d}", name, params.get("is_private") in ("true", True))
            channel.members.add(BOT_USER_ID)
            self.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id, "name": channel.name}}

    def _api_conversations_invite(self, params):
        channel = self.channels.get(params.get("channel"))
        if channel is not None:
            channel.members.update(str(params.get("users", "")).split(","))
        return {"ok": True, "channel": {"id": params.get("channel")}}

    def _api_conversations_join(self, params):
        channel = self.channels.get(params.get("channel"))
        if channel is not None and channel.private:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        if channel is not None:
            channel.members.add(BOT_USER_ID)
        return {"ok": True, "channel": {"id": params.get("channel")}}

    def _page(self, messages: list[dict], params) -> dict:
        oldest = float(params.get("oldest") or 0)
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        chosen = [m for m in messages if float(m["ts"]) >= oldest]
        page = chosen[start:start + limit]
        more = start + limit < len(chosen)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _api_conversations_history(self, params):
        channel = self.channels.get(params.get("channel"))
        if channel is not None and BOT_USER_ID not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        messages = sorted(self.history.get(params.get("channel"), []), key=lambda m: -float(m["ts"]))
        return self._page(messages, params)

    def _api_conversations_replies(self, params):
        messages = self.replies.get((params.get("channel"), params.get("ts")), [])
        return self._page(messages, params)

    def _visible_to_bot(self, channel: Channel | None) -> bool:
        return channel is not None and (not channel.private or BOT_USER_ID in channel.members)

    def _api_conversations_list(self, params):
        types = str(params.get("types") or "public_channel").split(",")
        with self._lock:
            chosen = [c for c in self.channels.values() if self._visible_to_bot(c)
                      and ("private_channel" if c.private else "public_channel") in types]
        limit, start = int(params.get("limit") or 100), int(params.get("cursor") or 0)
        page = chosen[start:start + limit]
        more = start + limit < len(chosen)
        return {"ok": True, "channels": [{"id": c.id, "name": c.name, "is_private": c.private, "is_channel": True}
                                         for c in page],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _api_conversations_info(self, params):
        channel = self.channels.get(params.get("channel"))
        if not self._visible_to_bot(channel):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {"id": channel.id, "name": channel.name, "is_private": channel.private}}

    def _api_users_conversations(self, params):
        user = params.get("user")
        types = str(params.get("types") or "public_channel").split(",")
        with self._lock:
            chosen = [c for c in self.channels.values() if user in c.members and self._visible_to_bot(c)
                      and ("private_channel" if c.private else "public_channel") in types]
        limit, start = int(params.get("limit") or 100), int(params.get("cursor") or 0)
        more = start + limit < len(chosen)
        return {"ok": True, "channels": [{"id": c.id, "name": c.name, "is_private": c.private}
                                         for c in chosen[start:start + limit]],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _api_conversations_members(self, params):
        channel = self.channels.get(params.get("channel"))
        if not self._visible_to_bot(channel):
            return {"ok": False, "error": "channel_not_found"}
        members = sorted(channel.members)
        limit, start = int(params.get("limit") or 100), int(params.get("cursor") or 0)
        more = start + limit < len(members)
        return {"ok": True, "members": members[start:start + limit],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _api_conversations_open(self, params):
        users = params.get("users", "")
        return {"ok": True, "channel": {"id": "D" + str(users).replace(",", "")[:10]}}

    def _api_chat_postMessage(self, params):
        ts = self._next_ts()
        if self.keep_posts:
            metadata = params.get("metadata")
            metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
            with self._lock:
                self.history.setdefault(params.get("channel"), []).append(
                    {"type": "message", "ts": ts, "text": params.get("text"), "bot_id": BOT_ID,
                     **({"metadata": metadata} if metadata else {})})
        return {"ok": True, "channel": params.get("channel"), "ts": ts,
                "message": {"text": params.get("text"), "ts": ts, "bot_id": BOT_ID}}

    def _api_chat_update(self, params):
        return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}

    def _api_chat_getPermalink(self, params):
        return {"ok": True, "permalink": f"https://acme.slack.com/archives/{params.get('channel')}/p"
                                         f"{str(params.get('message_ts')).replace('.', '')}"}

    def _api_files_getUploadURLExternal(self, params):
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, params):
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files or []]}

    def _api_views_open(self, params):
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}"}}

    def _api_views_update(self, params):
        return {"ok": True, "view": {"id": params.get("view_id")}}

    def _api_views_push(self, params):
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}"}}

    def _api_views_publish(self, params):
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", "type": "home",
                                     "hash": f"{int(time.time())}.{next(self._ids):08d}"}}

    def _api_apps_connections_open(self, params):
        if not self.ws_url:
            return {"ok": False, "error": "no_socket_mode_standin"}
        return {"ok": True, "url": self.ws_url}
