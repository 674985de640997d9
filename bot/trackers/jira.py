"""Jira Cloud as the tracker: REST API v3 over httpx, HTTP Basic auth with an account's e-mail and API token.

What goes where (docs/trackers.md, "Jira Cloud"):

- **Create** `POST /rest/api/3/issue`: the project by key, the issue type by id (looked up once by the
  name in JIRA_ISSUE_TYPE through the create metadata), the summary, a description in Atlassian
  Document Format (ADF) in which every piece of user text is a plain `text` node (never a link mark,
  a mention or an inline card: the only link is the bot's own to the incident channel, under a fixed
  label), `duedate`, the labels (`incident` and the item's marker) and the assignee, when the
  owner's Slack e-mail finds exactly one Jira account (`/rest/api/3/user/search`). A create screen
  without the due date or an owner Jira will not assign costs the field, not the issue: the request
  is sent once more without it, and the description says it.
- **The marker** is a label: JQL matches labels exactly (`labels = "…"`), where text search on the
  description is fuzzy. It is found with `POST /rest/api/3/search/jql`, the search endpoint Jira Cloud
  keeps (the older `/rest/api/3/search` was removed in 2025); it pages with `nextPageToken`. That
  search is *eventually consistent*: an issue created a moment ago may not be found yet. So a create
  whose answer was lost raises `TrackerRetryLater(ambiguous=True)` with at least
  `SEARCH_SETTLE_SECONDS`, and the search by marker that follows runs after the index caught up.
- **Close** takes the transition named JIRA_DONE_TRANSITION (read from the issue's transitions, never
  a fixed id). *Not planned* takes the same transition, sets the resolution to "Won't Do" (or the
  like) when the transition's screen offers a resolution, and adds a comment saying it was dropped.
  **Reopen** (`JiraTracker.reopen`, part of the interface; nothing in the bot calls it today, as Slack
  has no reopen action) takes the first transition to a status of category `new` (else `indeterminate`).
- **States** come from `key in (…)` searches of 50 keys; status category `done` is closed, and a
  resolution in NOT_PLANNED_RESOLUTIONS (Won't Do, Duplicate…) makes it closed as not planned, as the
  webhook decides.
- **Errors**: 429 and 5xx raise `TrackerRetryLater` with Jira's `Retry-After` (or `X-RateLimit-Reset`),
  else 0 (a 429 without either: a minute), and the outbox waits the longer of that and its backoff;
  401/403 raise `TrackerAuthError` naming what to fix; the rest `TrackerError` with Jira's message.
- **Webhooks**: an admin webhook with a secret signs the raw body, `X-Hub-Signature:
  sha256=<HMAC-SHA256 hex>`; the delivery id is `X-Atlassian-Webhook-Identifier` (the same on
  Jira's retries of one delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from bot.trackers.base import (
    CloseReason,
    IssueState,
    IssueStatus,
    NewIssue,
    TrackerAuthError,
    TrackerError,
    TrackerIssue,
    TrackerRetryLater,
    WebhookChange,
)
from bot.trackers.jira_format import cut, description, jql_string, label, paragraph, summary, text_nodes

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

API = "/rest/api/3"
# How long the search index may take to show a new issue, and so how long to wait after a create
# whose answer was lost before searching for it by marker (Atlassian: "seconds to minutes").
SEARCH_SETTLE_SECONDS = 60.0
RETRY_DEFAULT_SECONDS = 0.0  # a 5xx or a dropped connection without Retry-After: the outbox's backoff
ACCOUNT_TTL_SECONDS = 24 * 3600  # how long an owner's account found by e-mail is reused
NO_ACCOUNT_TTL_SECONDS = 3600  # and how long "no account" is (someone may get one meanwhile)
STATES_BATCH = 50  # keys per `key in (…)` search
NOT_PLANNED_RESOLUTIONS = ("won't do", "won't fix", "declined", "not planned", "cannot reproduce",
                           "duplicate")
DROPPED_COMMENT = "Dropped in incident-bot: not planned."
# fields the bot fills itself: a required one among the others makes creating fail
FILLED_FIELDS = {"project", "issuetype", "summary", "description", "duedate", "labels", "assignee",
                 "reporter"}
# the project permissions the bot uses (keys of GET /rest/api/3/mypermissions)
PERMISSIONS = {
    "BROWSE_PROJECTS": "Browse projects",
    "CREATE_ISSUES": "Create issues",
    "EDIT_ISSUES": "Edit issues",
    "TRANSITION_ISSUES": "Transition issues",
    "ASSIGN_ISSUES": "Assign issues",
    "SCHEDULE_ISSUES": "Schedule issues",
    "ADD_COMMENTS": "Add comments",
}
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[1-9][0-9]*")


def from_settings(settings: Settings) -> JiraTracker:
    assert settings.jira_base_url and settings.jira_email and settings.jira_project
    assert settings.jira_api_token
    secret = settings.jira_webhook_secret
    return JiraTracker(
        base_url=settings.jira_base_url,
        email=settings.jira_email,
        api_token=settings.jira_api_token.get_secret_value(),
        project=settings.jira_project,
        issue_type=settings.jira_issue_type,
        done_transition=settings.jira_done_transition,
        webhook_secret=secret.get_secret_value() if secret else None,
    )


# -- HTTP ---------------------------------------------------------------------------------------------


def error_text(response: httpx.Response) -> str:
    """Jira's error body ({"errorMessages": [...], "errors": {field: message}}) as one line."""
    try:
        body = response.json()
    except ValueError:  # a proxy's or a login page's HTML: nothing a person needs to read
        hint = ": check JIRA_BASE_URL" if response.status_code == 404 else ""
        return f"HTTP {response.status_code}, not an answer of Jira's REST API{hint}"
    parts: list[str] = []
    if isinstance(body, dict):
        parts += [str(m) for m in body.get("errorMessages") or []]
        parts += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        if not parts and body.get("message"):
            parts.append(str(body["message"]))
    return cut("; ".join(parts), 300) or f"HTTP {response.status_code}"


def field_errors(response: httpx.Response) -> dict[str, str]:
    try:
        body = response.json()
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds to wait: `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset` (ISO 8601)."""
    value = response.headers.get("retry-after")
    now = datetime.now(UTC)
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            return max(0.0, (at - now).total_seconds())
        except ValueError:
            pass
    return default


class JiraTracker:
    """One Jira Cloud project. Thread-safe (one httpx client, small caches under a lock); never sleeps."""

    name = "jira"

    def __init__(self, *, base_url: str, email: str, api_token: str, project: str, issue_type: str = "Task",
                 done_transition: str = "Done", webhook_secret: str | None = None, timeout: float = 15.0,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.email = email
        self.project = project
        self.issue_type = issue_type
        self.done_transition = done_transition
        self._webhook_secret = webhook_secret.encode() if webhook_secret else None
        self._http = httpx.Client(base_url=self.base_url, auth=httpx.BasicAuth(email, api_token),
                                  timeout=timeout,
                                  headers={"Accept": "application/json", "User-Agent": "incident-bot"},
                                  transport=transport)
        self._lock = threading.Lock()
        self._issue_type_id: str | None = None
        self._accounts: dict[str, tuple[str | None, float]] = {}  # e-mail -> (account, when looked up)

    def shutdown(self) -> None:
        """Close the HTTP connections (at shutdown)."""
        self._http.close()

    def browse_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    # -- one request ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, what: str, *, permission: str | None = None,
                 ok_statuses: tuple[int, ...] = (), creates: bool = False, **kwargs: Any) -> httpx.Response:
        """Send one request; answer the response when it succeeded (or has a status in `ok_statuses`),
        raise the tracker error it means otherwise. `what` completes "Jira refused to …". `creates`:
        the request creates an issue, so a lost answer is ambiguous (it may have been created)."""
        try:
            response = self._http.request(method, API + path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TrackerRetryLater(f"Jira did not answer at {self.base_url} ({type(exc).__name__})",
                                    RETRY_DEFAULT_SECONDS) from None
        except httpx.TransportError as exc:  # sent, but the answer was lost: it may have taken effect
            raise TrackerRetryLater(f"Jira's answer to {what} was lost ({type(exc).__name__})",
                                    SEARCH_SETTLE_SECONDS if creates else RETRY_DEFAULT_SECONDS,
                                    ambiguous=creates) from None
        status = response.status_code
        if status < 300 or status in ok_statuses:
            return response
        if status == 429:
            reason = response.headers.get("ratelimit-reason")
            raise TrackerRetryLater(f"Jira's rate limit ({reason or '429'}) while trying to {what}",
                                    retry_after(response, 60.0))
        if status >= 500:
            wait = retry_after(response, RETRY_DEFAULT_SECONDS)
            raise TrackerRetryLater(f"Jira answered {status} to {what}: {error_text(response)}",
                                    max(wait, SEARCH_SETTLE_SECONDS) if creates else wait, ambiguous=creates)
        if status == 401:
            raise TrackerAuthError(
                f"Jira refused the credentials (401) for {self.email}: check JIRA_EMAIL is the e-mail of the "
                "account that made the token and JIRA_API_TOKEN is a current API token from "
                "id.atlassian.com (they expire; a scoped token works only through api.atlassian.com)")
        if status == 403 and "CAPTCHA" in response.headers.get("x-authentication-denied-reason", ""):
            raise TrackerAuthError(
                f"Jira asks for a CAPTCHA for {self.email} after failed sign-ins (403): sign in to Jira "
                "once in a browser as that account, then check JIRA_EMAIL and JIRA_API_TOKEN")
        if status == 403:
            need = f"the '{permission}' permission in project {self.project}" if permission else \
                f"access to project {self.project}"
            raise TrackerAuthError(f"Jira refused to {what} (403): give the account {self.email} {need} "
                                   f"({error_text(response)})")
        raise TrackerError(f"Jira refused to {what} ({status}): {error_text(response)}")

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        response = self._request(method, path, what, **kwargs)
        return self._parse(response, what)

    def _parse(self, response: httpx.Response, what: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TrackerError(f"{self.base_url} did not answer {what} as Jira's REST API does: check "
                               "JIRA_BASE_URL (your site, such as https://acme.atlassian.net)") from None

    # -- lookups ----------------------------------------------------------------------------------

    def _issue_types(self) -> list[dict]:
        types: list[dict] = []
        start = 0
        while True:
            page = self._json("GET", f"/issue/createmeta/{self.project}/issuetypes",
                              "read the project's issue types",
                              permission="Create issues", params={"startAt": start, "maxResults": 50})
            batch = page.get("issueTypes") or page.get("createMetaIssueType") or []
            types += batch
            start += len(batch)
            if not batch or start >= int(page.get("total", 0)):
                return types

    def issue_type_id(self) -> str:
        with self._lock:
            if self._issue_type_id:
                return self._issue_type_id
        types = self._issue_types()
        for kind in types:
            if str(kind.get("name", "")).casefold() == self.issue_type.casefold():
                with self._lock:
                    self._issue_type_id = str(kind["id"])
                return str(kind["id"])
        names = ", ".join(str(k.get("name")) for k in types) or "none"
        raise TrackerError(f"Jira project {self.project} has no issue type '{self.issue_type}' "
                           f"(it has: {names}): set JIRA_ISSUE_TYPE to one of them")

    def account_id(self, email: str) -> str | None:
        """The Jira account of this e-mail address, or None when none (or several) match, or when the
        account may not browse users. Users who hide their e-mail are still found by the query, but
        then only a single match is trusted."""
        email = email.strip()
        key = email.casefold()
        with self._lock:
            cached = self._accounts.get(key)
            if cached:
                found, at = cached
                if time.monotonic() - at < (ACCOUNT_TTL_SECONDS if found else NO_ACCOUNT_TTL_SECONDS):
                    return found
        try:
            users = self._json("GET", "/user/search", "search users", permission="Browse users and groups",
                               params={"query": email, "maxResults": 10})
        except TrackerAuthError as exc:
            log.warning("Jira: cannot look up owners by e-mail, issues are created unassigned: %s", exc)
            return None
        people = [u for u in users or []
                  if u.get("active", True) and u.get("accountType", "atlassian") == "atlassian"]
        exact = [u for u in people if str(u.get("emailAddress", "")).casefold() == key]
        chosen = exact[0] if len(exact) == 1 else people[0] if len(people) == 1 else None
        found = str(chosen["accountId"]) if chosen else None
        with self._lock:
            if len(self._accounts) > 1000:
                self._accounts.clear()
            self._accounts[key] = (found, time.monotonic())
        return found

    # -- the Tracker protocol ---------------------------------------------------------------------

    def create_issue(self, new: NewIssue) -> TrackerIssue:
        labels = list(dict.fromkeys(x for x in (*(label(v) for v in new.labels), label(new.marker)) if x))
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "issuetype": {"id": self.issue_type_id()},
            "summary": summary(new.title),
            "description": description(new),
            "labels": labels,
        }
        if new.due:
            fields["duedate"] = new.due.isoformat()
        if new.owner_email:
            account = self.account_id(new.owner_email)
            if account:
                fields["assignee"] = {"id": account}
        response = self._request("POST", "/issue", "create an issue", permission="Create issues",
                                 ok_statuses=(400,), creates=True, json={"fields": fields, "update": {}})
        if response.status_code == 400:
            errors = field_errors(response)
            droppable = {"assignee", "duedate"} & set(fields)
            if not errors or not set(errors) <= droppable:
                raise TrackerError(f"Jira refused to create an issue in {self.project} (400): "
                                   f"{error_text(response)}")
            # the create screen lacks the field, or Jira will not assign this owner: create without it
            log.warning("Jira: creating without %s: %s", ", ".join(sorted(errors)), error_text(response))
            for name in errors:
                fields.pop(name, None)
            response = self._request("POST", "/issue", "create an issue", permission="Create issues",
                                     creates=True, json={"fields": fields, "update": {}})
        key = str((self._parse(response, "create an issue") or {}).get("key") or "")
        if not _KEY.fullmatch(key):
            raise TrackerError(f"{self.base_url} answered a create without an issue key: check JIRA_BASE_URL")
        return TrackerIssue(key=key, url=self.browse_url(key), state="open")

    def _search(self, jql: str, fields: list[str], limit: int = 5000) -> list[dict]:
        issues: list[dict] = []
        token: str | None = None
        while len(issues) < limit:
            body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": min(100, limit - len(issues))}
            if token:
                body["nextPageToken"] = token
            page = self._json("POST", "/search/jql", "search issues", permission="Browse projects", json=body)
            issues += page.get("issues") or []
            token = page.get("nextPageToken")
            if not token or page.get("isLast") is True:
                break
        return issues

    @staticmethod
    def _state(issue: dict) -> IssueState:
        status = (issue.get("fields") or {}).get("status") or {}
        return "closed" if (status.get("statusCategory") or {}).get("key") == "done" else "open"

    @classmethod
    def _issue_status(cls, issue: dict) -> IssueStatus:
        """Open or closed, and why: a resolution such as Won't Do or Duplicate is not planned."""
        state = cls._state(issue)
        if state != "closed":
            return IssueStatus(state)
        resolution = ((issue.get("fields") or {}).get("resolution") or {})
        name = str(resolution.get("name", "") if isinstance(resolution, dict) else "").casefold()
        return IssueStatus(state, "not_planned" if name in NOT_PLANNED_RESOLUTIONS else "completed")

    def find_by_marker(self, marker: str) -> TrackerIssue | None:
        wanted = label(marker)
        jql = f"project = {jql_string(self.project)} AND labels = {jql_string(wanted)} ORDER BY created ASC"
        for issue in self._search(jql, ["status", "labels"], limit=20):
            if wanted in ((issue.get("fields") or {}).get("labels") or []):
                key = str(issue["key"])
                return TrackerIssue(key=key, url=self.browse_url(key), state=self._state(issue))
        return None

    def _status(self, key: str) -> dict:
        if not _KEY.fullmatch(key):
            raise TrackerError(f"'{key[:40]}' is not a Jira issue key (such as OPS-17)")
        issue = self._json("GET", f"/issue/{key}", f"read {key}", permission="Browse projects",
                           params={"fields": "status"})
        return (issue.get("fields") or {}).get("status") or {}

    def _transitions(self, key: str, expand_fields: bool = False) -> list[dict]:
        params = {"expand": "transitions.fields"} if expand_fields else {}
        body = self._json("GET", f"/issue/{key}/transitions", f"read the transitions of {key}",
                          permission="Transition issues", params=params)
        return [t for t in body.get("transitions") or [] if t.get("isAvailable", True)]

    def _transition(self, key: str, transition: dict, fields: dict | None = None) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition["id"])}}
        if fields:
            body["fields"] = fields
        self._request("POST", f"/issue/{key}/transitions", f"move {key} through '{transition.get('name')}'",
                      permission="Transition issues", json=body)

    def close(self, key: str, reason: CloseReason) -> None:
        status = self._status(key)
        if (status.get("statusCategory") or {}).get("key") == "done":
            return
        transitions = self._transitions(key, expand_fields=reason == "not_planned")
        wanted = self.done_transition.casefold()
        chosen = next((t for t in transitions if str(t.get("name", "")).casefold() == wanted), None)
        if chosen is None:
            names = ", ".join(f"'{t.get('name')}'" for t in transitions) or "none"
            raise TrackerError(f"Jira has no transition '{self.done_transition}' from status "
                               f"'{status.get('name')}' of {key} (there are: {names}): "
                               "set JIRA_DONE_TRANSITION "
                               "to the one that closes an issue")
        fields = None
        if reason == "not_planned":
            resolution = ((chosen.get("fields") or {}).get("resolution") or {})
            allowed = resolution.get("allowedValues") or []
            for name in NOT_PLANNED_RESOLUTIONS:
                match = next((v for v in allowed if str(v.get("name", "")).casefold() == name), None)
                if match:
                    fields = {"resolution": {"id": str(match["id"])}} if match.get("id") else \
                        {"resolution": {"name": match["name"]}}
                    break
        self._transition(key, chosen, fields)
        if reason == "not_planned":
            # after the transition: a retry finds the issue closed and does not comment twice
            try:
                self._request("POST", f"/issue/{key}/comment", f"comment on {key}", permission="Add comments",
                              json={"body": {"type": "doc", "version": 1,
                                             "content": [paragraph(*text_nodes(DROPPED_COMMENT))]}})
            except TrackerError as exc:
                log.warning("Jira: %s was closed as not planned, but the comment saying so failed: %s",
                            key, exc)

    def reopen(self, key: str) -> None:
        status = self._status(key)
        if (status.get("statusCategory") or {}).get("key") != "done":
            return
        transitions = self._transitions(key)
        for category in ("new", "indeterminate"):
            for transition in transitions:
                if ((transition.get("to") or {}).get("statusCategory") or {}).get("key") == category:
                    self._transition(key, transition)
                    return
        raise TrackerError(f"Jira's workflow has no transition out of '{status.get('name')}' for {key}: "
                           "reopen it in Jira, or add a transition back to To Do")

    def states(self, keys: Sequence[str]) -> dict[str, IssueStatus]:
        wanted = [k for k in dict.fromkeys(keys) if _KEY.fullmatch(k)]
        found: dict[str, IssueStatus] = {}
        for start in range(0, len(wanted), STATES_BATCH):
            chunk = wanted[start:start + STATES_BATCH]
            while chunk:
                jql = f"key in ({', '.join(chunk)})"
                try:
                    issues = self._search(jql, ["status", "resolution"], limit=len(chunk) + 10)
                except TrackerError as exc:
                    # JQL refuses the whole query when one key no longer exists: drop the keys it names
                    if isinstance(exc, (TrackerAuthError, TrackerRetryLater)):
                        raise
                    gone = [k for k in chunk if f"'{k}'" in exc.message]
                    if not gone:
                        raise
                    chunk = [k for k in chunk if k not in gone]
                    continue
                for issue in issues:
                    found[issue["key"]] = self._issue_status(issue)
                break
        return {k: found[k] for k in wanted if k in found}

    # -- check --------------------------------------------------------------------------------------

    def check(self) -> list[tuple[bool, str]]:
        lines: list[tuple[bool, str]] = []

        def attempt(fn) -> bool:
            try:
                lines.append(fn())
            except TrackerError as exc:
                lines.append((False, str(exc)))
            except (AttributeError, KeyError, TypeError, ValueError):  # JSON, but not shaped like Jira's
                lines.append((False, f"{self.base_url} does not answer like Jira Cloud: check JIRA_BASE_URL"))
            return lines[-1][0]

        def auth():
            response = self._request("GET", "/myself", "read the account", ok_statuses=(404,))
            if response.status_code == 404:
                return False, (f"Jira: no REST API at {self.base_url}: set JIRA_BASE_URL to your site, "
                               "such as https://acme.atlassian.net")
            me = self._parse(response, "read the account")
            return True, f"Jira: signed in to {self.base_url} as {me.get('displayName') or self.email}"

        def project():
            response = self._request("GET", f"/project/{self.project}", f"read project {self.project}",
                                     permission="Browse projects", ok_statuses=(404,))
            if response.status_code == 404:
                return False, (f"Jira project {self.project}: not found, or {self.email} cannot see it: "
                               "check "
                               "JIRA_PROJECT and the account's Browse projects permission")
            name = self._parse(response, "read the project").get("name")
            return True, f"Jira project {self.project}: {name}"

        def permissions():
            body = self._json("GET", "/mypermissions", "read the account's permissions",
                              params={"projectKey": self.project, "permissions": ",".join(PERMISSIONS)})
            have = body.get("permissions") or {}
            missing = [title for key, title in PERMISSIONS.items()
                       if not (have.get(key) or {}).get("havePermission")]
            if missing:
                return False, (f"Jira permissions in {self.project}: {self.email} lacks "
                               f"{', '.join(missing)}: "
                               "grant them in the project's permission scheme")
            return True, f"Jira permissions in {self.project}: all {len(PERMISSIONS)} the bot uses"

        def issue_type():
            return True, f"Jira issue type {self.issue_type} (id {self.issue_type_id()})"

        def fields():
            type_id = self.issue_type_id()
            meta = self._json("GET", f"/issue/createmeta/{self.project}/issuetypes/{type_id}",
                              "read the create screen", permission="Create issues",
                              params={"maxResults": 200})
            listed = meta.get("fields") or meta.get("results") or []
            ids = {str(f.get("fieldId") or f.get("key")) for f in listed}
            blocking = [str(f.get("name")) for f in listed
                        if f.get("required") and not f.get("hasDefaultValue")
                        and str(f.get("fieldId") or f.get("key")) not in FILLED_FIELDS]
            if blocking:
                return False, (f"Jira create screen of {self.issue_type} requires fields the bot does not "
                               "fill: "
                               f"{', '.join(blocking)}: make them optional or give them a default")
            if "labels" not in ids:
                return False, (f"Jira create screen of {self.issue_type} has no Labels field: add it "
                               "(the bot "
                               "labels each issue incident and with its marker)")
            optional = (("duedate", "Due date"), ("assignee", "Assignee"))
            absent = [name for fid, name in optional if fid not in ids]
            note = f" (without {', '.join(absent)}: put in the description instead)" if absent else ""
            return True, f"Jira create screen of {self.issue_type}: the fields the bot fills{note}"

        def transition():
            jql = (f"project = {jql_string(self.project)} AND issuetype = {jql_string(self.issue_type)} "
                   "AND statusCategory != Done ORDER BY created DESC")
            sample = self._search(jql, ["status"], limit=1)
            if not sample:
                return True, (f"Jira transition '{self.done_transition}': not checked yet, no open "
                              f"{self.issue_type} in {self.project} to read the workflow from")
            key = sample[0]["key"]
            transitions = self._transitions(key)
            names = [str(t.get("name")) for t in transitions]
            status = ((sample[0].get("fields") or {}).get("status") or {}).get("name", "?")
            if any(n.casefold() == self.done_transition.casefold() for n in names):
                return True, (f"Jira transition '{self.done_transition}' is available from '{status}' "
                              f"(on {key})")
            return False, (f"Jira transition '{self.done_transition}' is not available from '{status}' "
                           f"(on {key}; "
                           f"there are: {', '.join(names) or 'none'}): set JIRA_DONE_TRANSITION")

        if not self.base_url.startswith("https://") and not re.match(r"http://(127\.0\.0\.1|localhost)[:/]",
                                                                      self.base_url + "/"):
            lines.append((False, f"JIRA_BASE_URL {self.base_url} is not https: the API token would travel in "
                                 "clear; use https://<site>.atlassian.net"))
        if not attempt(auth) or not attempt(project):
            return lines
        attempt(permissions)
        if attempt(issue_type):
            attempt(fields)
        attempt(transition)
        if self._webhook_secret:
            lines.append((True, "Jira webhook secret: set (POST /webhooks/jira checks X-Hub-Signature)"))
        else:
            lines.append((True, "Jira webhook secret: not set, so /webhooks/jira refuses every delivery and "
                                "changes made in Jira arrive through the reminder sweep's polling"))
        return lines

    # -- webhooks -----------------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """`X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with JIRA_WEBHOOK_SECRET."""
        if not self._webhook_secret:
            return False
        given = (headers.get("x-hub-signature") or "").strip()
        if not given.isascii() or not given.lower().startswith("sha256="):
            return False
        expected = "sha256=" + hmac.new(self._webhook_secret, raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), ("sha256=" + given[7:].lower()).encode())

    def webhook_change(self, headers: Mapping[str, str], body: dict) -> WebhookChange | None:
        """A `jira:issue_updated` delivery whose changelog changes the status, for an issue of the project;
        None for anything else. ValueError for such a delivery with fields of the wrong type (the caller
        answers 400)."""
        if not isinstance(body, dict) or body.get("webhookEvent") != "jira:issue_updated":
            return None
        issue, changelog = body.get("issue"), body.get("changelog")
        if changelog is None:
            return None  # an update without a changelog changes no status
        if not isinstance(changelog, dict) or not isinstance(changelog.get("items") or [], list):
            raise ValueError("a jira:issue_updated delivery whose changelog is not an object with a list "
                             "of items")
        items = changelog.get("items") or []
        if not any(isinstance(i, dict) and "status" in (i.get("fieldId"), i.get("field")) for i in items):
            return None
        if not isinstance(issue, dict):
            raise ValueError("a jira:issue_updated delivery whose issue is not an object")
        key = issue.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key) or key.rsplit("-", 1)[0] != self.project:
            return None
        fields = issue.get("fields")
        status = fields.get("status") if isinstance(fields, dict) else None
        if not isinstance(status, dict) or not isinstance(status.get("statusCategory") or {}, dict) \
                or not isinstance(fields.get("resolution") or {}, dict):
            raise ValueError("a jira:issue_updated delivery whose issue.fields.status or resolution is not "
                             "an object")
        status = self._issue_status(issue)
        delivery = headers.get("x-atlassian-webhook-identifier") or \
            f"jira:{issue.get('id')}:{changelog.get('id')}"
        return WebhookChange(delivery_id=str(delivery), key=key, state=status.state, reason=status.reason)
