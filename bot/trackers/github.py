"""GitHub Issues as the tracker, and a repository to publish postmortems to, over GitHub's REST API (httpx).

Every answer is turned into a value or one of the three tracker errors (bot/trackers/base.py):

- 401 → TrackerAuthError (the token is wrong or expired); 403 naming a missing permission, 404 on the
  repository, 410 (issues disabled) → TrackerAuthError saying what to fix. They are configuration.
- 429, and 403 with `x-ratelimit-remaining: 0` or a message about a secondary rate limit →
  TrackerRetryLater after `retry-after`, else until `x-ratelimit-reset`, else a minute (GitHub's
  advice for the secondary limit). 5xx, timeouts, dropped connections → TrackerRetryLater with no
  time of its own (0: the outbox's backoff), `ambiguous` when a POST may have taken effect.
- 422 and anything else → TrackerError with GitHub's message.

Rate limits: after an answer with `x-ratelimit-remaining: 0` nothing is sent until its reset (the
call raises TrackerRetryLater at once). Content-creating requests (POST/PATCH/PUT) are spaced CREATE_SPACING_S apart in one
process, as GitHub asks ("create from a queue, serially"); the outbox runs tracker jobs in a lane of
their own, one at a time. `states()` reads the repository's issue list (100 a page, 1 point each;
see `states`) instead of one request per item.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

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

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
TIMEOUT_S = 10.0
CREATE_SPACING_S = 1.0  # at most 80 content-creating requests a minute (secondary limit)
SECONDARY_WAIT_S = 60.0  # "wait at least one minute" when GitHub gives no time
MAX_PAGES = 50  # states(): at most 5,000 issues read per poll
FIND_RECENT = 100  # find_by_marker(): the newest issues read before asking the search API
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def from_settings(settings) -> GitHubTracker:
    return GitHubTracker(GitHubAPI(settings.github_api_url, settings.github_token.get_secret_value()),
                         settings.github_repo,
                         settings.github_webhook_secret.get_secret_value() if settings.github_webhook_secret else None)


def publisher_from_settings(settings) -> GitHubAPI:
    return GitHubAPI(settings.github_api_url, settings.github_token.get_secret_value())


@dataclass(frozen=True)
class Answer:
    status: int
    data: object
    headers: httpx.Headers


class GitHubAPI:
    """The REST API with one token: requests, pagination, and the error mapping above."""

    def __init__(self, api_url: str, token: str, *, transport: httpx.BaseTransport | None = None):
        self.api_url = api_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.api_url, timeout=TIMEOUT_S, transport=transport, follow_redirects=True,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION, "User-Agent": "incident-bot"})
        self._create_lock = threading.Lock()
        self._last_create = 0.0
        self._exhausted_until = 0.0  # epoch seconds: the primary budget is spent until GitHub resets it

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None,
                ok: tuple[int, ...] = (200, 201), missing_ok: bool = False) -> Answer:
        """One request; `missing_ok`: a 404 is an answer (data None), not an error."""
        wait = self._exhausted_until - time.time()
        if wait > 0:  # the last answer said nothing remains: asking now would only be refused
            raise TrackerRetryLater(f"GitHub rate limit spent (x-ratelimit-remaining 0): waiting {wait:.0f} s", wait)
        writes = method in ("POST", "PATCH", "PUT", "DELETE")
        if writes:
            self._space_writes()
        try:
            response = self._client.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            raise TrackerRetryLater(f"GitHub at {self.api_url} did not answer ({_reason(exc)})", 0) from None
        except httpx.TransportError as exc:  # timeouts, dropped connections: a write may have happened
            raise TrackerRetryLater(f"GitHub did not answer in time ({type(exc).__name__})", 0,
                                    ambiguous=method == "POST") from None
        status = response.status_code
        self._note_budget(response.headers)
        if status in ok or (missing_ok and status == 404):
            data = response.json() if status != 404 and response.content else None
            return Answer(status, data, response.headers)
        raise _error(method, path, response)

    def pages(self, path: str, params: dict, max_pages: int = MAX_PAGES):
        """The items of a listing, page by page, following `Link: rel="next"`."""
        url, query = path, dict(params)
        for _ in range(max_pages):
            answer = self.request("GET", url, params=query)
            yield from (answer.data or [])
            match = _NEXT.search(answer.headers.get("link", ""))
            if not match:
                return
            url, query = match.group(1), None
            if url.startswith(self.api_url):
                url = url[len(self.api_url):]

    def _note_budget(self, headers: httpx.Headers) -> None:
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-resource", "core") != "search":
            try:
                self._exhausted_until = float(headers.get("x-ratelimit-reset") or 0)
            except ValueError:
                pass

    def _space_writes(self) -> None:
        with self._create_lock:
            wait = self._last_create + CREATE_SPACING_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_create = time.monotonic()


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(data, dict):
        message = str(data.get("message") or response.reason_phrase)
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in errors]
            message += " (" + "; ".join(details)[:200] + ")"
        return message
    return response.reason_phrase


def retry_after_seconds(headers: httpx.Headers | Mapping[str, str], now: float | None = None) -> float | None:
    """How long GitHub asks to wait: `retry-after`, else until `x-ratelimit-reset` when nothing remains."""
    value = headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(1.0, float(headers["x-ratelimit-reset"]) - (time.time() if now is None else now))
        except ValueError:
            pass
    return None


def _error(method: str, path: str, response: httpx.Response) -> TrackerError:
    status = response.status_code
    message = _message(response)
    headers = response.headers
    wait = retry_after_seconds(headers)
    limited = "rate limit" in message.lower() or headers.get("x-ratelimit-remaining") == "0"
    if status == 429 or (status == 403 and limited):
        secondary = "secondary" in message.lower()
        seconds = wait if wait is not None else SECONDARY_WAIT_S
        what = "secondary rate limit" if secondary else "rate limit"
        return TrackerRetryLater(f"GitHub {what} ({status}): waiting {seconds:.0f} s", seconds)
    if status >= 500:
        return TrackerRetryLater(f"GitHub answered {status} to {method} {path}", wait or 0,
                                 ambiguous=method == "POST")
    if status == 401:
        return TrackerAuthError(f"GitHub refused GITHUB_TOKEN ({status} {message}): create a new token "
                                "and set GITHUB_TOKEN (see docs/trackers.md for its permissions)")
    if status == 403:
        needed = headers.get("x-accepted-github-permissions")
        need = f"; the endpoint needs {needed}" if needed else ""
        return TrackerAuthError(f"GitHub refused {method} {path} ({status} {message}{need}): give GITHUB_TOKEN "
                                "read and write access to Issues (and Contents and Pull requests for "
                                "POSTMORTEM_REPO) on the repository")
    if status == 404:
        return TrackerAuthError(f"GitHub has no {path} for this token (404): check the repository name and that "
                                "GITHUB_TOKEN may see that repository")
    if status == 410:
        return TrackerAuthError(f"GitHub says {message} (410) for {path}: enable Issues in the repository's settings")
    return TrackerError(f"GitHub refused {method} {path} ({status} {message})")


def close_reason(state_reason: object) -> CloseReason:
    """GitHub's `state_reason` of a closed issue as the bot's: not planned and duplicate are dropped."""
    return "not_planned" if state_reason in ("not_planned", "duplicate") else "completed"


def _status(data: dict) -> IssueStatus:
    state = _issue(data).state
    return IssueStatus(state, close_reason(data.get("state_reason")) if state == "closed" else None)


def _issue(data: dict) -> TrackerIssue:
    return TrackerIssue(key=str(data["number"]), url=str(data.get("html_url") or ""),
                        state="closed" if data.get("state") == "closed" else "open")


class GitHubTracker:
    """GitHub Issues in one repository (GITHUB_REPO)."""

    name = "github"

    def __init__(self, api: GitHubAPI, repo: str, webhook_secret: str | None = None):
        self.api = api
        self.repo = repo
        self.webhook_secret = webhook_secret

    def shutdown(self) -> None:
        self.api.close()

    @property
    def _issues(self) -> str:
        return f"/repos/{self.repo}/issues"

    def create_issue(self, new: NewIssue) -> TrackerIssue:
        body = {"title": new.title[:256], "body": new.body, "labels": list(new.labels)}
        return _issue(self.api.request("POST", self._issues, json=body, ok=(201,)).data)

    def find_by_marker(self, marker: str) -> TrackerIssue | None:
        """The newest issues first (no search-index delay: a create that just happened is there), then
        GitHub's issue search for older ones. Only an issue whose body holds the whole marker counts:
        `incident-bot:item:4` is not found inside item 42's `incident-bot:item:42`."""
        recent = self.api.request("GET", self._issues, params={
            "state": "all", "sort": "created", "direction": "desc", "per_page": FIND_RECENT}).data or []
        for data in recent:
            if "pull_request" not in data and has_marker(data.get("body"), marker):
                return _issue(data)
        found = self.api.request("GET", "/search/issues", params={
            "q": f'"{marker}" in:body repo:{self.repo} is:issue', "per_page": 10}).data or {}
        for data in found.get("items", []):
            if "pull_request" not in data and has_marker(data.get("body"), marker):
                return _issue(data)
        return None

    def close(self, key: str, reason: CloseReason) -> None:
        self.api.request("PATCH", f"{self._issues}/{int(key)}",
                         json={"state": "closed", "state_reason": reason})

    def reopen(self, key: str) -> None:
        self.api.request("PATCH", f"{self._issues}/{int(key)}", json={"state": "open", "state_reason": "reopened"})

    def states(self, keys: Sequence[str]) -> dict[str, IssueStatus]:
        """Reads the repository's issues, newest first, 100 a page, until every key is seen: one request
        per 100 issues (the items are recent, so usually one or two pages) instead of one per item.
        Keys still unseen (their label was removed, or they are older) are read one by one, at most 20.
        With REMINDER_INTERVAL_MINUTES at 60 this stays far below 5,000 requests an hour."""
        wanted = {str(int(k)) for k in keys}
        found: dict[str, IssueStatus] = {}
        if not wanted:
            return found
        for data in self.api.pages(self._issues, {"state": "all", "sort": "created", "direction": "desc",
                                                  "per_page": 100}):
            key = str(data.get("number"))
            if key in wanted and "pull_request" not in data:
                found[key] = _status(data)
                if len(found) == len(wanted):
                    break
        for key in sorted(wanted - found.keys(), key=int)[:20]:
            answer = self.api.request("GET", f"{self._issues}/{key}", missing_ok=True)
            if answer.data and "pull_request" not in answer.data:
                found[key] = _status(answer.data)
        return found

    def check(self) -> list[tuple[bool, str]]:
        try:
            user = self.api.request("GET", "/user").data or {}
        except TrackerError as exc:
            return [(False, f"auth: {exc}")]
        lines = [(True, f"auth: GITHUB_TOKEN accepted (as {user.get('login') or 'an app'})")]
        return lines + repository_checks(self.api, self.repo, "GITHUB_REPO", need_issues=True)

    # -- webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        return verify_signature(self.webhook_secret, headers.get("x-hub-signature-256"), raw_body)

    def webhook_change(self, headers: Mapping[str, str], body: dict) -> WebhookChange | None:
        """An `issues` closed or reopened delivery of GITHUB_REPO; None for anything else. ValueError
        for such a delivery with fields of the wrong type (the caller answers 400)."""
        if headers.get("x-github-event") != "issues" or body.get("action") not in ("closed", "reopened"):
            return None
        issue, repository = body.get("issue"), body.get("repository")
        if not isinstance(repository, dict) or not isinstance(repository.get("full_name"), str):
            raise ValueError("an issues delivery whose repository.full_name is not a string")
        if not isinstance(issue, dict):
            raise ValueError("an issues delivery whose issue is not an object")
        if repository["full_name"].lower() != self.repo.lower() or "pull_request" in issue:
            return None  # another repository's hook, or a pull request
        number = issue.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError("an issues delivery whose issue.number is not a positive number")
        closed = body["action"] == "closed"
        return WebhookChange(delivery_id=headers.get("x-github-delivery") or "", key=str(number),
                             state="closed" if closed else "open",
                             reason=close_reason(issue.get("state_reason")) if closed else None)


def has_marker(body: object, marker: str) -> bool:
    """Whether `body` holds `marker` as a whole token: not followed or preceded by a letter, digit,
    `_`, `:` or `-` (so item 4's marker is not found in item 42's)."""
    if not isinstance(body, str):
        return False
    return re.search(r"(?<![\w:-])" + re.escape(marker) + r"(?![\w:-])", body) is not None


def verify_signature(secret: str | None, header: str | None, raw_body: bytes) -> bool:
    """`sha256=<hex>` is the HMAC-SHA256 of the raw body with the secret (compared in constant time)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode("ascii", "replace"))


def repository_checks(api: GitHubAPI, repo: str, setting: str, *, need_issues: bool = False,
                      need_push: bool = False) -> list[tuple[bool, str]]:
    try:
        data = api.request("GET", f"/repos/{repo}").data or {}
    except TrackerError as exc:
        return [(False, f"repository {repo} ({setting}): {exc}")]
    lines = [(True, f"repository {repo} ({setting}): found, default branch {data.get('default_branch')}")]
    permissions = data.get("permissions") or {}
    if need_issues:
        lines.append((bool(data.get("has_issues", True)),
                      "issues: enabled" if data.get("has_issues", True) else
                      "issues: disabled on the repository; enable them in its settings"))
    if (need_push or need_issues) and permissions:
        can = bool(permissions.get("push") or permissions.get("triage") or permissions.get("maintain")
                   or permissions.get("admin"))
        lines.append((can, "permission: the token may write" if can else
                      "permission: the token may only read; the label and publishing need write (push) access"))
    return lines


# ---------------------------------------------------------------------------------------------
# publishing a file on a branch, with a pull request (postmortems as code)


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool  # False: an open pull request of the branch was updated
    merged: bool = False  # True: nothing to publish, the default branch has this content (merged here)


def publish_file(api: GitHubAPI, repo: str, *, branch: str, path: str, content: str, message: str,
                 title: str, body: str, pr_number: int | None = None) -> PullRequest:
    """Commit `content` at `path` on `branch` (created from the default branch when missing) and open a
    pull request, or update the open one (`pr_number`, or the one GitHub lists for the branch).
    Harmless to repeat: an unchanged file is not committed again, an existing branch is reused.
    When there is nothing to propose because the default branch has this very content already (the
    pull request was merged, and perhaps its branch deleted), no pull request is opened: the answer is
    the merged one (`merged=True`)."""
    default = (api.request("GET", f"/repos/{repo}").data or {}).get("default_branch") or "main"
    ref = api.request("GET", f"/repos/{repo}/git/ref/heads/{quote(branch, safe='/')}", missing_ok=True)
    if ref.data is None:
        base = api.request("GET", f"/repos/{repo}/git/ref/heads/{quote(default, safe='/')}").data
        made = api.request("POST", f"/repos/{repo}/git/refs", ok=(201, 422),
                           json={"ref": f"refs/heads/{branch}", "sha": base["object"]["sha"]})
        if made.status == 422 and _data_message(made.data) != "Reference already exists":
            raise TrackerError(f"GitHub refused to create the branch {branch} in {repo} "
                               f"(422 {_data_message(made.data) or 'Unprocessable Entity'})")
    contents_path = f"/repos/{repo}/contents/{quote(path)}"
    existing = api.request("GET", contents_path, params={"ref": branch}, missing_ok=True).data
    encoded = base64.b64encode(content.encode("utf-8")).decode("ascii")
    same = _same_file(existing, content)
    if not same:
        put = {"message": message, "content": encoded, "branch": branch}
        if isinstance(existing, dict) and existing.get("sha"):
            put["sha"] = existing["sha"]
        api.request("PUT", contents_path, json=put, ok=(200, 201))
    owner = repo.split("/", 1)[0]
    pull = None
    earlier = None  # the pull request published before, when it is no longer open
    if pr_number is not None:
        pull = api.request("GET", f"/repos/{repo}/pulls/{pr_number}", missing_ok=True).data
        if pull is not None and pull.get("state") != "open":
            earlier, pull = pull, None
    if pull is None:
        listed = api.request("GET", f"/repos/{repo}/pulls", params={"head": f"{owner}:{branch}", "state": "open"}).data
        pull = listed[0] if listed else None
    if pull is not None:
        api.request("PATCH", f"/repos/{repo}/pulls/{pull['number']}", json={"title": title, "body": body})
        return PullRequest(int(pull["number"]), str(pull.get("html_url") or ""), created=False)
    if same:  # nothing committed: is it on the default branch already (merged)?
        published = api.request("GET", contents_path, params={"ref": default}, missing_ok=True).data
        if _same_file(published, content):
            merged = earlier if earlier is not None and earlier.get("merged_at") else \
                _merged_pull(api, repo, f"{owner}:{branch}")
            if merged is not None:
                return PullRequest(int(merged["number"]), str(merged.get("html_url") or ""), created=False,
                                   merged=True)
            raise TrackerError(f"{path} on {default} of {repo} is this draft already: there is nothing to "
                               "propose in a pull request")
    made = api.request("POST", f"/repos/{repo}/pulls", json={"title": title, "head": branch, "base": default,
                                                              "body": body}, ok=(201,)).data
    return PullRequest(int(made["number"]), str(made.get("html_url") or ""), created=True)


def _same_file(existing: object, content: str) -> bool:
    return isinstance(existing, dict) and \
        base64.b64decode(existing.get("content") or "") == content.encode("utf-8")


def _merged_pull(api: GitHubAPI, repo: str, head: str) -> dict | None:
    closed = api.request("GET", f"/repos/{repo}/pulls", params={"head": head, "state": "closed"}).data or []
    return next((p for p in closed if isinstance(p, dict) and p.get("merged_at")), None)


def _data_message(data: object) -> str:
    return str(data.get("message") or "") if isinstance(data, dict) else ""
