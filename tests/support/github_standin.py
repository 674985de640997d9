"""A local stand-in for GitHub's REST API: the endpoints the bot calls, shaped like GitHub's answers.

Point the bot at it with `GITHUB_API_URL=github.api_url`. Request bodies are validated with JSON
Schemas written from GitHub's REST description (the operations' `requestBody` in
`github/rest-api-description`, as far as the bot uses them): an invalid body is answered 422
"Validation Failed" like GitHub, and recorded in `violations` so a test can assert there are none.
Responses are built from tests/fixtures/github/github_issue_response.json (GitHub's documented
issue example), with the headers GitHub sends (x-ratelimit-*, Link pagination).

Faults, like the Slack stand-in's:
- `fail(method, path_pattern, status=…, times=…, retry_after=…, secondary=…, after=…)`: answer an
  error shaped like GitHub's (401 Bad credentials, 403 with a missing permission, 403/429 secondary
  rate limit, 404, 422, 5xx); `after=True` applies the request first and then answers the error (an
  ambiguous failure: the issue exists, the client was told it failed).
- `down(clock, until)`: 503 to everything while `clock() < until` (a frozen test clock moved on).
- `calls` records every request; `issues`, `files`, `pulls`, `refs` hold the state.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlparse

import jsonschema

from tests.support.http_standin import HTTPCall, HTTPStandIn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
TOKEN = "ghp_standInToken0000000000000000000000"
REPO = "acme/checkout-service"
DOCS = "https://docs.github.com/rest"

# -- request bodies, from GitHub's REST description -------------------------------------------

_LABELS = {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "description": {"type": ["string", "null"]},
    "color": {"type": ["string", "null"]}}}]}}
ISSUE_CREATE = {  # POST /repos/{owner}/{repo}/issues
    "type": "object", "required": ["title"],
    "properties": {
        "title": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "body": {"type": "string"},
        "assignee": {"type": ["string", "null"]},
        "milestone": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "labels": _LABELS,
        "assignees": {"type": "array", "items": {"type": "string"}},
        "type": {"type": ["string", "null"]},
    },
}
ISSUE_UPDATE = {  # PATCH /repos/{owner}/{repo}/issues/{issue_number}
    "type": "object",
    "properties": {
        "title": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "body": {"type": ["string", "null"]},
        "assignee": {"type": ["string", "null"]},
        "state": {"enum": ["open", "closed"]},
        "state_reason": {"enum": ["completed", "not_planned", "duplicate", "reopened", None]},
        "milestone": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "labels": _LABELS,
        "assignees": {"type": "array", "items": {"type": "string"}},
    },
}
REF_CREATE = {"type": "object", "required": ["ref", "sha"],
              "properties": {"ref": {"type": "string", "pattern": "^refs/"}, "sha": {"type": "string"},
                             "key": {"type": "string"}}}
CONTENTS_PUT = {"type": "object", "required": ["message", "content"],
                "properties": {"message": {"type": "string"}, "content": {"type": "string"},
                               "sha": {"type": "string"}, "branch": {"type": "string"},
                               "committer": {"type": "object"}, "author": {"type": "object"}}}
PULL_CREATE = {"type": "object", "required": ["head", "base"],
               "properties": {"title": {"type": "string"}, "head": {"type": "string"}, "head_repo": {"type": "string"},
                              "base": {"type": "string"}, "body": {"type": "string"},
                              "maintainer_can_modify": {"type": "boolean"}, "draft": {"type": "boolean"},
                              "issue": {"type": "integer"}}}
PULL_UPDATE = {"type": "object",
               "properties": {"title": {"type": "string"}, "body": {"type": "string"},
                              "state": {"enum": ["open", "closed"]}, "base": {"type": "string"},
                              "maintainer_can_modify": {"type": "boolean"}}}
PER_PAGE_MAX = 100


@dataclass
class Call(HTTPCall):
    status: int = 0


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    times: int | None = 1
    retry_after: int | None = None
    secondary: bool = False
    after: bool = False  # apply the request, then answer the error
    delay: float = 0.0
    message: str | None = None
    reset_in: int | None = None  # x-ratelimit-remaining 0 and reset this many seconds from now


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    created_at: float = field(default_factory=time.time)
    pull_request: bool = False


class GitHubStandIn(HTTPStandIn):
    name = "github"
    methods = ("GET", "POST", "PATCH", "PUT")

    def __init__(self, token: str = TOKEN, repo: str = REPO):
        super().__init__()
        self.token = token
        self.repo = repo
        self.violations: list[str] = []
        self.issues: dict[int, Issue] = {}
        self.refs: dict[str, str] = {"main": "a" * 40}
        self.files: dict[tuple[str, str], str] = {}  # (branch, path) -> content
        self.pulls: dict[int, dict] = {}
        self.merged_branches: dict[str, set[str]] = {}  # a branch's sha -> branches merged at it
        self.repos = {repo: {"has_issues": True, "push": True}}
        self.search_lag = False  # True: the search API does not see issues yet (GitHub's index lag)
        self.remaining = 5000
        self._down: tuple | None = None
        self._numbers = itertools.count(1)
        self._template = json.loads((FIXTURES / "github_issue_response.json").read_text())

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- knobs ----------------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, *, times: int | None = 1, retry_after: int | None = None,
             secondary: bool = False, after: bool = False, delay: float = 0.0, message: str | None = None,
             reset_in: int | None = None) -> None:
        """Answer requests matching `method` and the regex `path` with an error, `times` times (None: always)."""
        self._add_fault(Fault(method, re.compile(path), status, times, retry_after, secondary, after, delay,
                              message, reset_in))

    def down(self, clock, until) -> None:
        """503 to everything while `clock()` is before `until`."""
        self._down = (clock, until)

    def clear_faults(self) -> None:
        super().clear_faults()
        self._down = None

    def calls_to(self, method: str, path_pattern: str) -> list[Call]:
        pattern = re.compile(path_pattern)
        return [c for c in self.calls if c.method == method and pattern.fullmatch(c.path)]

    def add_issue(self, title: str, body: str = "", state: str = "open", labels=("incident",),
                  pull_request: bool = False) -> Issue:
        with self._lock:
            issue = Issue(next(self._numbers), title, body, list(labels), state, pull_request=pull_request)
            self.issues[issue.number] = issue
        return issue

    def set_state(self, number: int, state: str, reason: str | None = None) -> None:
        """Change an issue as a person on github.com would."""
        with self._lock:
            self.issues[number].state = state
            self.issues[number].state_reason = reason if state == "closed" else "reopened"

    # -- webhook deliveries, as GitHub sends them -------------------------------------------------

    def delivery(self, number: int, action: str, secret: str, *, delivery_id: str | None = None,
                 state_reason: str | None = "completed", event: str = "issues") -> tuple[bytes, dict]:
        """(raw body, headers) of an `issues` delivery for issue `number`, signed with `secret`."""
        payload = json.loads((FIXTURES / "github_webhook_issues_closed.json").read_text())
        payload["action"] = action
        owner, name = self.repo.split("/")
        payload["repository"]["full_name"] = self.repo
        payload["repository"]["name"] = name
        payload["repository"]["owner"]["login"] = owner
        issue = payload["issue"]
        issue["number"] = number
        issue["html_url"] = f"https://github.com/{self.repo}/issues/{number}"
        issue["state"] = "closed" if action == "closed" else "open"
        issue["state_reason"] = state_reason if action == "closed" else ("reopened" if action == "reopened" else None)
        if action != "closed":
            issue["closed_at"] = None
        raw = json.dumps(payload).encode()
        return raw, signed_headers(raw, secret, event=event, delivery_id=delivery_id)

    # -- request handling -----------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._error(request, 400, "Problems parsing JSON")
        call = Call(method, unquote(url.path), query, body, headers)
        with self._lock:
            self.calls.append(call)
        if not headers.get("user-agent"):  # GitHub refuses requests without one
            return self._error(request, 403, "Request forbidden by administrative rules. "
                                             "Please make sure your request has a User-Agent header", call)
        if self._down is not None and self._down[0]() < self._down[1]:
            return self._error(request, 503, "Service Unavailable", call)
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._error(request, 401, "Bad credentials", call)
        fault = self._take_fault(method, call.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and not fault.after:
            return self._fault(request, fault, call)
        try:
            status, data, extra = self._route(method, call.path, query, body)
        except _Refused as refused:
            return self._error(request, refused.status, refused.message, call, errors=refused.errors)
        if fault is not None:
            return self._fault(request, fault, call)
        call.status = status
        self._json(request, status, data, extra)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.pattern.fullmatch(path) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _fault(self, request, fault: Fault, call: Call) -> None:
        extra = {}
        if fault.retry_after is not None:
            extra["Retry-After"] = str(fault.retry_after)
        if fault.reset_in is not None:
            extra["x-ratelimit-remaining"] = "0"
            extra["x-ratelimit-reset"] = str(int(time.time()) + fault.reset_in)
        if fault.secondary:
            message = json.loads((FIXTURES / "github_secondary_rate_limit_403.json").read_text())["message"]
        else:
            message = fault.message or {401: "Bad credentials", 403: "Resource not accessible by personal access token",
                                        404: "Not Found", 410: "Issues are disabled for this repo",
                                        422: "Validation Failed", 429: "API rate limit exceeded"}.get(
                fault.status, "Server Error")
        if fault.status == 403 and not fault.secondary and fault.reset_in is None:
            extra["X-Accepted-GitHub-Permissions"] = "issues=write"
        self._error(request, fault.status, message, call, extra=extra)

    def _error(self, request, status: int, message: str, call: Call | None = None, *, errors=None,
               extra: dict | None = None) -> None:
        data = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors:
            data["errors"] = errors
        if call is not None:
            call.status = status
        self._json(request, status, data, extra)

    def _json(self, request, status: int, data, extra: dict | None = None) -> None:
        payload = json.dumps(data).encode() if data is not None else b""
        with self._lock:
            self.remaining = max(0, self.remaining - 1)
        headers = {"Content-Type": "application/json; charset=utf-8", "x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(self.remaining),
                   "x-ratelimit-used": str(5000 - self.remaining), "x-ratelimit-resource": "core",
                   "x-ratelimit-reset": str(int(time.time()) + 3600),
                   "x-github-request-id": uuid.uuid4().hex[:20].upper()}
        headers.update(extra or {})
        self._write(request, status, payload, headers)

    # -- endpoints ------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict, body):
        if method == "GET" and path == "/user":
            return 200, {"login": "incident-bot-acme", "id": 90000001, "type": "User"}, None
        if method == "GET" and path == "/search/issues":
            return 200, self._search(query), None
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m or m.group(1) not in self.repos:
            raise _Refused(404, "Not Found")
        repo, rest = m.group(1), m.group(2) or ""
        if method == "GET" and rest == "":
            return 200, self._repo(repo), None
        if rest == "/issues":
            if method == "POST":
                return 201, self._create_issue(repo, body), None
            if method == "GET":
                return self._list_issues(repo, query)
        n = re.fullmatch(r"/issues/(\d+)", rest)
        if n:
            issue = self.issues.get(int(n.group(1)))
            if issue is None:
                raise _Refused(404, "Not Found")
            if method == "GET":
                return 200, self._issue_json(repo, issue), None
            if method == "PATCH":
                return 200, self._update_issue(repo, issue, body), None
        if rest.startswith("/git/ref/heads/") and method == "GET":
            branch = rest[len("/git/ref/heads/"):]
            if branch not in self.refs:
                raise _Refused(404, "Not Found")
            return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": self.refs[branch], "type": "commit"}}, None
        if rest == "/git/refs" and method == "POST":
            self._validate(REF_CREATE, body)
            branch = body["ref"][len("refs/heads/"):]
            if branch in self.refs:
                raise _Refused(422, "Reference already exists")
            source = next((b for b, sha in self.refs.items() if sha == body["sha"]), None)
            if source is None:
                raise _Refused(422, "Object does not exist")
            self.refs[branch] = body["sha"]
            for (where, path), content in list(self.files.items()):  # the new branch has the commit's tree
                if where == source:
                    self.files[(branch, path)] = content
            return 201, {"ref": body["ref"], "object": {"sha": body["sha"], "type": "commit"}}, None
        if rest.startswith("/contents/"):
            return self._contents(repo, method, rest[len("/contents/"):], query, body)
        if rest == "/pulls":
            if method == "GET":
                return 200, [p for p in self.pulls.values()
                             if (not query.get("head") or f"{repo.split('/')[0]}:{p['head']['ref']}" == query["head"])
                             and query.get("state", "open") in (p["state"], "all")], None
            if method == "POST":
                return 201, self._create_pull(repo, body), None
        p = re.fullmatch(r"/pulls/(\d+)", rest)
        if p:
            pull = self.pulls.get(int(p.group(1)))
            if pull is None:
                raise _Refused(404, "Not Found")
            if method == "PATCH":
                self._validate(PULL_UPDATE, body)
                pull.update({k: v for k, v in body.items() if k in ("title", "body", "state")})
            return 200, pull, None
        raise _Refused(404, "Not Found")

    def _validate(self, schema: dict, body) -> None:
        try:
            jsonschema.validate(body, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "body"
            self.violations.append(f"{where}: {exc.message}")
            raise _Refused(422, "Validation Failed", [{"resource": "Issue", "field": where, "code": "invalid",
                                                       "message": exc.message}]) from None

    def _repo(self, repo: str) -> dict:
        owner, name = repo.split("/")
        settings = self.repos[repo]
        return {"id": 1296269, "name": name, "full_name": repo, "private": True,
                "owner": {"login": owner, "id": 1, "type": "Organization"},
                "html_url": f"https://github.com/{repo}", "default_branch": "main",
                "has_issues": settings["has_issues"],
                "permissions": {"admin": False, "maintain": False, "push": settings["push"], "triage": settings["push"],
                                "pull": True}}

    def _issue_json(self, repo: str, issue: Issue) -> dict:
        data = copy.deepcopy(self._template)
        base = f"https://api.github.com/repos/{repo}/issues/{issue.number}"
        data.update({"id": 2000000000 + issue.number, "number": issue.number, "title": issue.title, "body": issue.body,
                     "url": base, "html_url": f"https://github.com/{repo}/issues/{issue.number}",
                     "repository_url": f"https://api.github.com/repos/{repo}", "state": issue.state,
                     "state_reason": issue.state_reason,
                     "closed_at": "2026-12-02T10:00:00Z" if issue.state == "closed" else None,
                     "labels": [{"id": i + 1, "name": name, "color": "ededed", "default": False, "description": None}
                                for i, name in enumerate(issue.labels)]})
        if issue.pull_request:
            data["pull_request"] = {"url": base.replace("/issues/", "/pulls/")}
        return data

    def _create_issue(self, repo: str, body) -> dict:
        self._validate(ISSUE_CREATE, body)
        labels = [label if isinstance(label, str) else label.get("name", "") for label in body.get("labels") or []]
        if not self.repos[repo]["push"]:
            labels = []  # silently dropped without push access, as GitHub does
        issue = self.add_issue(str(body["title"]), body.get("body"), "open", labels)
        return self._issue_json(repo, issue)

    def _update_issue(self, repo: str, issue: Issue, body) -> dict:
        self._validate(ISSUE_UPDATE, body)
        with self._lock:
            if "state" in body:
                issue.state = body["state"]
                issue.state_reason = body.get("state_reason") if issue.state == "closed" else \
                    ("reopened" if body.get("state_reason") == "reopened" else None)
            for key in ("title", "body"):
                if key in body:
                    setattr(issue, key, body[key])
        return self._issue_json(repo, issue)

    def _list_issues(self, repo: str, query: dict):
        per_page = min(int(query.get("per_page", 30)), PER_PAGE_MAX)
        page = int(query.get("page", 1))
        state = query.get("state", "open")
        wanted = [i for i in self.issues.values() if state == "all" or i.state == state]
        if query.get("labels"):
            names = set(query["labels"].split(","))
            wanted = [i for i in wanted if names <= set(i.labels)]
        wanted.sort(key=lambda i: i.number, reverse=query.get("direction", "desc") == "desc")
        chunk = wanted[(page - 1) * per_page: page * per_page]
        extra = {}
        if page * per_page < len(wanted):
            nxt = dict(query, page=str(page + 1))
            last = dict(query, page=str((len(wanted) + per_page - 1) // per_page))
            extra["Link"] = (f'<{self.api_url}/repos/{repo}/issues?{urlencode(nxt)}>; rel="next", '
                             f'<{self.api_url}/repos/{repo}/issues?{urlencode(last)}>; rel="last"')
        return 200, [self._issue_json(repo, i) for i in chunk], extra

    def _search(self, query: dict) -> dict:
        q = query.get("q", "")
        phrase = re.search(r'"([^"]+)"', q)
        repo = re.search(r"repo:(\S+)", q)
        items = []
        if phrase and repo and repo.group(1) in self.repos and not self.search_lag:
            items = [self._issue_json(repo.group(1), i) for i in self.issues.values()
                     if phrase.group(1) in (i.body or "") and not i.pull_request]
        return {"total_count": len(items), "incomplete_results": False, "items": items}

    def _contents(self, repo: str, method: str, path: str, query: dict, body):
        if method == "GET":
            branch = query.get("ref", "main")
            content = self.files.get((branch, path))
            if content is None:
                raise _Refused(404, "Not Found")
            encoded = base64.encodebytes(content.encode()).decode()  # GitHub wraps at 60/76 columns
            return 200, {"type": "file", "encoding": "base64", "path": path, "name": path.rsplit("/", 1)[-1],
                         "sha": _sha(content), "size": len(content.encode()), "content": encoded}, None
        if method == "PUT":
            self._validate(CONTENTS_PUT, body)
            branch = body.get("branch", "main")
            if branch not in self.refs:
                raise _Refused(404, "Branch not found")
            old = self.files.get((branch, path))
            if old is not None and body.get("sha") != _sha(old):
                raise _Refused(409, f"{path} does not match {body.get('sha')}")
            if old is None and body.get("sha"):
                raise _Refused(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
            content = base64.b64decode(body["content"]).decode()
            self.files[(branch, path)] = content
            self.refs[branch] = hashlib.sha1(f"{branch}{content}".encode()).hexdigest()
            return (200 if old is not None else 201), {"content": {"path": path, "sha": _sha(content)},
                                                        "commit": {"sha": self.refs[branch], "message": body["message"]}}, None
        raise _Refused(404, "Not Found")

    def merge(self, number: int, *, delete_branch: bool = True) -> None:
        """A person merges the pull request (its files land on the base branch), and GitHub deletes its
        branch when the repository says so."""
        with self._lock:
            pull = self.pulls[number]
            head, base = pull["head"]["ref"], pull["base"]["ref"]
            for (where, path), content in list(self.files.items()):
                if where == head:
                    self.files[(base, path)] = content
            self.merged_branches.setdefault(self.refs[head], set()).add(head)
            self.refs[base] = hashlib.sha1(f"merge {number} {self.refs[base]}".encode()).hexdigest()
            pull.update(state="closed", merged=True, merged_at="2026-12-02T10:00:00Z")
            if delete_branch:
                del self.refs[head]
                for key in [k for k in self.files if k[0] == head]:
                    del self.files[key]

    def _create_pull(self, repo: str, body) -> dict:
        self._validate(PULL_CREATE, body)
        if body["head"] not in self.refs:
            raise _Refused(422, "Validation Failed", [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if self.refs[body["head"]] == self.refs.get(body["base"]) or body["head"] in self.merged_branches.get(
                self.refs[body["head"]], ()):
            raise _Refused(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                       "message": f"No commits between {body['base']} and "
                                                                  f"{body['head']}"}])
        if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in self.pulls.values()):
            raise _Refused(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                       "message": f"A pull request already exists for {body['head']}."}])
        number = next(self._numbers)
        pull = {"number": number, "state": "open", "merged": False, "title": body.get("title", ""), "body": body.get("body"),
                "html_url": f"https://github.com/{repo}/pull/{number}",
                "head": {"ref": body["head"]}, "base": {"ref": body["base"]}}
        self.pulls[number] = pull
        return pull


class _Refused(Exception):
    def __init__(self, status: int, message: str, errors=None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def _sha(content: str) -> str:
    data = content.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def signed_headers(raw: bytes, secret: str | None, *, event: str = "issues", delivery_id: str | None = None) -> dict:
    """The headers GitHub sends with a delivery (X-Hub-Signature-256 when there is a secret)."""
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
               "X-GitHub-Hook-ID": "424242", "User-Agent": "GitHub-Hookshot/abc1234",
               "content-type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return headers
