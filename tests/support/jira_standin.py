"""A local stand-in for Jira Cloud's REST API v3: the endpoints the bot calls, shaped like the real ones.

Point the client at `standin.base_url` (JIRA_BASE_URL). It keeps one project (`OPS`), its issue types,
a three-status workflow (To Do, In Progress, Done; every transition global, as in Jira's default
simplified workflow), users for `/user/search`, and the issues created. Requests are checked against
the shapes in Atlassian's OpenAPI document for these operations (required fields, types, the
Atlassian Document Format of descriptions and comments); a request that does not fit is recorded in
`violations` and answered 400 as Jira does: `{"errorMessages": [...], "errors": {field: message}}`.

Knobs: `fail(method, path, status=…, retry_after=…, times=…, effect=…, drop=…)` answers an error
(429 with Retry-After and the rate-limit headers, 5xx, 401, 403, 400) — with `effect=True` after
doing the work, and with `drop=True` by closing the connection without an answer (a create whose
outcome the bot cannot know); `down()` / `up()` stop and restart listening on the same port;
`search_lag` hides issues younger than that many seconds from searches (the search index is
eventually consistent); `latency` slows every answer; `page_size` caps search pages to exercise
`nextPageToken`. Every call is in `calls`.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

from tests.support.http_standin import HTTPCall, HTTPStandIn

EMAIL = "bot@acme.example"
TOKEN = "ATATT3xFfGF0-standin-token"
PROJECT = "OPS"

STATUSES = {  # id: (name, category key, category id, category name)
    "10000": ("To Do", "new", 2, "To Do"),
    "3": ("In Progress", "indeterminate", 4, "In Progress"),
    "10001": ("Done", "done", 3, "Done"),
}
NOT_ON_SCREEN = "It is not on the appropriate screen, or unknown."
COLORS = {"new": "blue-gray", "indeterminate": "yellow", "done": "green"}
RESOLUTIONS = {"10000": "Done", "10001": "Won't Do", "10002": "Duplicate"}

# ADF (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/): which nodes may
# contain which, and the keys each may carry.
_BLOCKS = {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "rule", "panel"}
_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}
_MARKS = {"strong", "em", "code", "strike", "underline", "link", "textColor", "subsup"}
_NODE_KEYS = {"type", "content", "attrs", "marks", "text"}


@dataclass
class Call(HTTPCall):
    at: float


@dataclass
class Fault:
    method: str
    path: str  # a regular expression on the path, such as r"/rest/api/3/issue$"
    status: int = 500
    retry_after: float | None = None
    body: dict | None = None
    times: int | None = 1  # None: until cleared
    effect: bool = False  # do the work, then answer the error
    drop: bool = False  # close the connection without answering
    delay: float = 0.0
    headers: dict | None = None


@dataclass
class Issue:
    id: str
    key: str
    fields: dict
    created: float
    comments: list = field(default_factory=list)


def status_object(base: str, status_id: str) -> dict:
    name, key, cat_id, cat_name = STATUSES[status_id]
    return {"self": f"{base}/rest/api/3/status/{status_id}", "description": "",
            "iconUrl": f"{base}/images/icons/",
            "name": name, "id": status_id,
            "statusCategory": {"self": f"{base}/rest/api/3/statuscategory/{cat_id}", "id": cat_id, "key": key,
                               "colorName": COLORS[key],
                               "name": cat_name}}


def adf_problems(doc: object, where: str = "description") -> list[str]:
    """What makes `doc` not an ADF document (empty when it is one)."""
    problems: list[str] = []
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return [f"{where}: must be an ADF document {{type: doc, version: 1, content}}"]
    if set(doc) - {"type", "version", "content"} or not isinstance(doc.get("content"), list):
        return [f"{where}: a doc has type, version and content (an array)"]

    def node(n: object, path: str, allowed: set[str]) -> None:
        if not isinstance(n, dict) or not isinstance(n.get("type"), str):
            problems.append(f"{path}: not a node")
            return
        kind = n["type"]
        if kind not in allowed:
            problems.append(f"{path}: {kind} is not allowed here")
            return
        if set(n) - _NODE_KEYS:
            problems.append(f"{path}: unknown keys {sorted(set(n) - _NODE_KEYS)}")
        if kind == "text":
            if not isinstance(n.get("text"), str) or not n["text"]:
                problems.append(f"{path}: a text node needs non-empty text")
            for i, mark in enumerate(n.get("marks") or []):
                if not isinstance(mark, dict) or mark.get("type") not in _MARKS:
                    problems.append(f"{path}.marks[{i}]: unknown mark")
                elif mark["type"] == "link" and not isinstance((mark.get("attrs") or {}).get("href"), str):
                    problems.append(f"{path}.marks[{i}]: a link needs attrs.href")
            if "content" in n:
                problems.append(f"{path}: a text node has no content")
            return
        if "text" in n or ("marks" in n and kind not in ("paragraph", "heading")):
            problems.append(f"{path}: {kind} has no text or marks")
        if kind == "mention" and not (n.get("attrs") or {}).get("id"):
            problems.append(f"{path}: a mention needs attrs.id")
        if kind == "heading" and (n.get("attrs") or {}).get("level") not in range(1, 7):
            problems.append(f"{path}: a heading needs attrs.level 1-6")
        children = n.get("content")
        if kind in ("hardBreak", "rule", "mention", "emoji", "inlineCard", "date", "status"):
            if children is not None:
                problems.append(f"{path}: {kind} has no content")
            return
        if children is None:
            if kind in ("bulletList", "orderedList", "listItem", "blockquote", "panel"):
                problems.append(f"{path}: {kind} needs content")
            return
        if not isinstance(children, list):
            problems.append(f"{path}.content: must be an array")
            return
        inner = {"paragraph": _INLINE, "heading": _INLINE, "codeBlock": {"text"},
                 "bulletList": {"listItem"}, "orderedList": {"listItem"},
                 "listItem": {"paragraph", "bulletList", "orderedList", "codeBlock"},
                 "blockquote": {"paragraph", "bulletList", "orderedList", "codeBlock"},
                 "panel": {"paragraph", "heading", "bulletList", "orderedList"}}[kind]
        if kind in ("bulletList", "orderedList", "listItem") and not children:
            problems.append(f"{path}: {kind} needs at least one child")
        for i, child in enumerate(children):
            node(child, f"{path}.content[{i}]", inner)

    for i, block in enumerate(doc["content"]):
        node(block, f"{where}.content[{i}]", _BLOCKS)
    return problems


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):  # a dropped connection is on purpose: stay quiet
        pass


class JiraStandIn(HTTPStandIn):
    name = "jira"
    methods = ("GET", "POST", "PUT")

    def __init__(self, *, email: str = EMAIL, token: str = TOKEN, project: str = PROJECT):
        super().__init__()
        self.email, self.token, self.project = email, token, project
        self.project_id = "10000"
        self.project_name = "Operations"
        self.issue_types = [{"id": "10001", "name": "Task"}, {"id": "10004", "name": "Bug"}]
        # the create screen of every type: field id -> required
        self.create_screen = {"summary": True, "issuetype": True, "project": True, "reporter": False,
                              "description": False, "duedate": False, "labels": False, "assignee": False,
                              "priority": False}
        self.required_extra: list[str] = []  # e.g. ["components"]: required fields the bot does not fill
        self.permissions = {"BROWSE_PROJECTS", "CREATE_ISSUES", "EDIT_ISSUES", "TRANSITION_ISSUES",
                            "ASSIGN_ISSUES", "SCHEDULE_ISSUES", "ADD_COMMENTS"}
        # the workflow: transition id -> (name, target status id)
        self.transitions = {"11": ("To Do", "10000"), "21": ("In Progress", "3"), "31": ("Done", "10001")}
        self.done_screen_resolutions = False  # the Done transition has a screen with Resolution
        self.users: list[dict] = []
        self.unassignable: set[str] = set()
        self.issues: dict[str, Issue] = {}
        self.violations: list[str] = []
        self.search_lag = 0.0
        self.latency = 0.0  # seconds every answer takes
        self.page_size = 50
        self._ids = itertools.count(10042)
        self._numbers = itertools.count(17)
        self._comment_ids = itertools.count(10100)
        self._pages: dict[str, tuple[list[str], int]] = {}
        self._connections: set = set()

    # -- lifecycle ------------------------------------------------------------------------------

    server_class = _Server  # quiet about connections dropped on purpose

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(super()._handler_class()):  # tracks its connections, so that stop() ends them
            def setup(self):
                super().setup()
                with standin._lock:
                    standin._connections.add(self.connection)

            def finish(self):
                with standin._lock:
                    standin._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

        return Handler

    def stop(self) -> None:
        super().stop()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # kept-alive connections end too, as when a server goes away
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self) -> None:
        """Stop answering: connections are refused until `up()`."""
        self.stop()

    def up(self) -> None:
        if self._server is None:
            self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- set-up and inspection -------------------------------------------------------------------

    def add_user(self, account_id: str, name: str, email: str, *, email_visible: bool = True,
                 account_type: str = "atlassian", active: bool = True) -> None:
        self.users.append({"accountId": account_id, "displayName": name, "_email": email,
                           "_visible": email_visible, "accountType": account_type, "active": active})

    def fail(self, method: str, path: str, status: int = 500, *, retry_after: float | None = None,
             body: dict | None = None, times: int | None = 1, effect: bool = False, drop: bool = False,
             delay: float = 0.0, headers: dict | None = None) -> Fault:
        return self._add_fault(Fault(method, path, status, retry_after, body, times, effect, drop, delay, headers))

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and re.fullmatch(path, c.path)]

    def add_issue(self, summary: str = "An action item", *, status: str = "10000",
                  labels: tuple = ("incident",), created: float | None = None) -> str:
        """An issue made in Jira by a person (not through the bot); its key."""
        with self._lock:
            issue_id, key = str(next(self._ids)), f"{self.project}-{next(self._numbers)}"
            fields = {"summary": summary, "description": None, "labels": list(labels), "duedate": None,
                      "issuetype": self.issue_types[0], "status": "10000", "resolution": None,
                      "assignee": None}
            issue = Issue(issue_id, key, fields, time.time() if created is None else created)
            self._set_status(issue, status)
            self.issues[key] = issue
        return key

    def set_status(self, key: str, status_id: str, resolution: str | None = None) -> None:
        """Change an issue as a person would in Jira's UI."""
        with self._lock:
            self._set_status(self.issues[key], status_id, resolution)

    def webhook_issue_updated(self, key: str, from_status: str = "3") -> dict:
        """A `jira:issue_updated` delivery for the issue's current status, as Jira sends it."""
        with self._lock:
            issue = self.issues[key]
            fields = self._fields(issue, None)
        status = fields["status"]
        items = [{"field": "status", "fieldtype": "jira", "fieldId": "status", "from": from_status,
                  "fromString": STATUSES[from_status][0], "to": status["id"], "toString": status["name"]}]
        return {"timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_updated",
                "issue_event_type_name": "issue_generic",
                "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Alice Example"},
                "issue": {"id": issue.id, "self": f"{self.base_url}/rest/api/2/issue/{issue.id}", "key": key,
                          "fields": fields},
                "changelog": {"id": str(next(self._comment_ids)), "items": items}}

    # -- request handling -----------------------------------------------------------------------

    def _send(self, request: BaseHTTPRequestHandler, status: int, body: object = None,
              headers: dict | None = None) -> None:
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        ctype = "text/plain;charset=UTF-8" if isinstance(body, bytes) else "application/json;charset=UTF-8"
        self._write(request, status, raw, {"Content-Type": ctype, **(headers or {})} if raw else dict(headers or {}))

    def _error(self, request, status: int, messages: list[str] | None = None, errors: dict | None = None,
               headers: dict | None = None) -> None:
        self._send(request, status, {"errorMessages": messages or [], "errors": errors or {}}, headers)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and re.search(fault.path, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def _answer_fault(self, request, fault: Fault) -> None:
        if fault.drop:
            request.close_connection = True
            request.wfile.flush()
            request.connection.shutdown(socket.SHUT_RDWR)
            return
        headers = dict(fault.headers or {})
        if fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        if fault.status == 429:
            headers.update({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0",
                            "RateLimit-Reason": "jira-burst-based"})
        if fault.status == 401:
            return self._send(request, 401, b"Client must be authenticated to access this resource.")
        messages = {429: "Rate limit exceeded.", 403: "You do not have permission."}
        message = messages.get(fault.status, "Internal server error")
        body = fault.body or {"errorMessages": [message], "errors": {}}
        self._send(request, fault.status, body, headers)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        body: object = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(request, 400, ["Unexpected character in the request body."])
        method, path = request.command, url.path
        with self._lock:
            self.calls.append(Call(method, path, dict(parse_qsl(url.query)), body, headers, time.time()))
        expected = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if headers.get("authorization") != expected:
            return self._send(request, 401, b"Client must be authenticated to access this resource.",
                              {"WWW-Authenticate": 'OAuth realm="https%3A%2F%2Facme.atlassian.net"'})
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(method, path)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and not fault.effect:
            return self._answer_fault(request, fault)
        try:
            status, answer, extra = self._route(method, path, dict(parse_qsl(url.query)), body)
        except _JiraError as exc:
            status, answer, extra = exc.status, {"errorMessages": exc.messages, "errors": exc.errors}, {}
        if fault:
            return self._answer_fault(request, fault)
        self._send(request, status, answer, extra)

    # -- the API ------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict, body: object) -> tuple[int, object, dict]:
        api = "/rest/api/3"
        if not path.startswith(api):
            raise _JiraError(404, ["Not found"])
        path = path[len(api):]
        routes = [
            ("GET", r"/myself", self._myself),
            ("GET", r"/project/([^/]+)", self._project),
            ("GET", r"/mypermissions", self._mypermissions),
            ("GET", r"/issue/createmeta/([^/]+)/issuetypes", self._createmeta_types),
            ("GET", r"/issue/createmeta/([^/]+)/issuetypes/([^/]+)", self._createmeta_fields),
            ("GET", r"/user/search", self._user_search),
            ("POST", r"/issue", self._create),
            ("GET", r"/issue/([^/]+)", self._get_issue),
            ("GET", r"/issue/([^/]+)/transitions", self._get_transitions),
            ("POST", r"/issue/([^/]+)/transitions", self._post_transition),
            ("POST", r"/issue/([^/]+)/comment", self._post_comment),
            ("POST", r"/search/jql", self._search),
        ]
        for verb, pattern, handler in routes:
            m = re.fullmatch(pattern, path)
            if m and verb == method:
                with self._lock:
                    return handler(query, body, *m.groups())
        raise _JiraError(404, [f"No {method} {api}{path} here"])

    def _violation(self, what: str, status: int = 400, errors: dict | None = None, messages=None):
        self.violations.append(what)
        if messages is None:
            messages = [] if errors else [what]
        raise _JiraError(status, messages, errors or {})

    def _myself(self, query, body):
        return 200, {"self": f"{self.base_url}/rest/api/3/user?accountId=5b10bot", "accountId": "5b10bot",
                     "accountType": "atlassian", "emailAddress": self.email, "displayName": "Incident Bot",
                     "active": True, "timeZone": "UTC", "locale": "en_US"}, {}

    def _check_project(self, key: str) -> None:
        if key not in (self.project, self.project_id) or "BROWSE_PROJECTS" not in self.permissions:
            raise _JiraError(404, [f"No project could be found with key '{key}'."])

    def _project(self, query, body, key):
        self._check_project(key)
        return 200, {"self": f"{self.base_url}/rest/api/3/project/{self.project_id}", "id": self.project_id,
                     "key": self.project, "name": self.project_name, "projectTypeKey": "software",
                     "simplified": False, "style": "classic", "isPrivate": False}, {}

    def _mypermissions(self, query, body):
        wanted = [p for p in query.get("permissions", "").split(",") if p]
        if not wanted:
            raise _JiraError(400, ["The permissions query parameter is required."])
        return 200, {"permissions": {p: {"id": str(i), "key": p, "name": p.replace("_", " ").title(),
                                         "type": "PROJECT", "description": "",
                                         "havePermission": p in self.permissions}
                                     for i, p in enumerate(wanted)}}, {}

    def _createmeta_types(self, query, body, project):
        self._check_project(project)
        types = [{"self": f"{self.base_url}/rest/api/3/issuetype/{t['id']}", "id": t["id"], "name": t["name"],
                  "description": "", "iconUrl": "", "subtask": False} for t in self.issue_types]
        start, size = int(query.get("startAt", 0)), int(query.get("maxResults", 50))
        return 200, {"issueTypes": types[start:start + size], "maxResults": size, "startAt": start,
                     "total": len(types)}, {}

    def _createmeta_fields(self, query, body, project, type_id):
        self._check_project(project)
        if type_id not in {t["id"] for t in self.issue_types}:
            raise _JiraError(404, ["Issue type not found"])
        fields = [{"fieldId": f, "key": f, "name": f.title(), "required": req,
                   "hasDefaultValue": f == "reporter",
                   "operations": ["set"], "schema": {"type": "string", "system": f}}
                  for f, req in self.create_screen.items()]
        fields += [{"fieldId": f, "key": f, "name": f.title(), "required": True, "hasDefaultValue": False,
                    "operations": ["set"], "schema": {"type": "array"}} for f in self.required_extra]
        return 200, {"fields": fields, "maxResults": 200, "startAt": 0, "total": len(fields)}, {}

    def _user_search(self, query, body):
        q = query.get("query", "").strip().casefold()
        if not q and not query.get("accountId"):
            raise _JiraError(400, ["One of 'query' or 'accountId' parameters must be provided."])
        found = []
        for u in self.users:
            names = [u["displayName"].casefold(), *u["displayName"].casefold().split()]
            if u["_email"].casefold() == q or any(n.startswith(q) for n in names):
                user = {"self": f"{self.base_url}/rest/api/3/user?accountId={u['accountId']}",
                        "accountId": u["accountId"], "accountType": u["accountType"], "avatarUrls": {},
                        "displayName": u["displayName"], "active": u["active"], "key": "", "name": ""}
                if u["_visible"]:
                    user["emailAddress"] = u["_email"]
                found.append(user)
        return 200, found[: int(query.get("maxResults", 50))], {}

    def _create(self, query, body):
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            self._violation("the body needs fields (IssueUpdateDetails)")
        unknown = set(body) - {"fields", "update", "transition", "historyMetadata", "properties"}
        if unknown:
            self._violation(f"unknown keys {sorted(unknown)}",
                            messages=["Unrecognized field in the request."])
        fields = body["fields"]
        project = fields.get("project") or {}
        if not isinstance(project, dict) or not (project.get("key") or project.get("id")):
            self._violation("project needs key or id",
                            errors={"project": "Specify a valid project ID or key"})
        self._check_create_project(project)
        kind = fields.get("issuetype") or {}
        type_ids = {t["id"]: t for t in self.issue_types}
        type_names = {t["name"]: t for t in self.issue_types}
        if not isinstance(kind, dict) or not (kind.get("id") in type_ids or kind.get("name") in type_names):
            self._violation("issuetype needs a valid id or name",
                            errors={"issuetype": "Specify an issue type"})
        errors: dict[str, str] = {}
        for name in fields:
            if name not in self.create_screen and name not in self.required_extra:
                errors[name] = f"Field '{name}' cannot be set. {NOT_ON_SCREEN}"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        for name in self.required_extra:
            if name not in fields:
                errors[name] = f"{name.title()} is required."
        if "description" in fields and fields["description"] is not None:
            problems = adf_problems(fields["description"])
            if len(json.dumps(fields["description"], ensure_ascii=False)) > 32767:
                errors["description"] = ("The entered text is too long. It exceeds the allowed limit of "
                                         "32,767 characters.")
            if problems:
                self.violations += problems
                errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian " \
                                        "Document Format)"
        if "duedate" in fields and "duedate" not in errors:
            try:
                date.fromisoformat(fields["duedate"])
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", fields["duedate"])
            except (TypeError, ValueError, AssertionError):
                self.violations.append("duedate must be yyyy-MM-dd")
                errors["duedate"] = "Error parsing date string: " + str(fields["duedate"])
        if "labels" in fields and "labels" not in errors:
            labels = fields["labels"]
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                self.violations.append("labels must be an array of strings")
                errors["labels"] = "Labels must be an array of strings"
            else:
                for x in labels:
                    if not x or re.search(r"\s", x) or len(x) > 255:
                        errors["labels"] = f"The label '{x}' contains spaces which is invalid."
        assignee = fields.get("assignee")
        if assignee is not None and "assignee" not in errors:
            account = assignee.get("id") or assignee.get("accountId") if isinstance(assignee, dict) else None
            if not account:
                self.violations.append("assignee needs id or accountId")
                errors["assignee"] = "Specify a valid value for assignee"
            elif account in self.unassignable or account not in {u["accountId"] for u in self.users}:
                errors["assignee"] = f"User '{account}' cannot be assigned issues."
        if errors:
            raise _JiraError(400, [], errors)
        issue_id = str(next(self._ids))
        key = f"{self.project}-{next(self._numbers)}"
        kind = type_ids.get(kind.get("id")) or type_names[kind.get("name")]
        stored = {"summary": summary, "description": fields.get("description"),
                  "labels": fields.get("labels") or [],
                  "duedate": fields.get("duedate"), "issuetype": kind, "status": "10000", "resolution": None,
                  "assignee": (assignee or {}).get("id") or (assignee or {}).get("accountId")}
        self.issues[key] = Issue(issue_id, key, stored, time.time())
        return 201, {"id": issue_id, "key": key, "self": f"{self.base_url}/rest/api/3/issue/{issue_id}"}, {}

    def _check_create_project(self, project: dict) -> None:
        if (project.get("key") or project.get("id")) not in (self.project, self.project_id):
            raise _JiraError(400, [], {"project": "valid project is required"})
        if "CREATE_ISSUES" not in self.permissions:
            raise _JiraError(400, [], {"project": "You do not have permission to create issues in this "
                                                  "project."})

    def _issue(self, key: str) -> Issue:
        issue = self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)
        if issue is None or "BROWSE_PROJECTS" not in self.permissions:
            raise _JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        return issue

    def _fields(self, issue: Issue, wanted: list[str] | None) -> dict:
        f = issue.fields
        resolution = f["resolution"]
        full = {
            "summary": f["summary"], "labels": list(f["labels"]), "duedate": f["duedate"],
            "status": status_object(self.base_url, f["status"]),
            "resolution": None if resolution is None else {
                "self": f"{self.base_url}/rest/api/3/resolution/{resolution}", "id": resolution,
                "name": RESOLUTIONS[resolution], "description": ""},
            "issuetype": {"id": f["issuetype"]["id"], "name": f["issuetype"]["name"], "subtask": False},
            "project": {"id": self.project_id, "key": self.project, "name": self.project_name},
            "assignee": None if not f["assignee"] else {"accountId": f["assignee"], "active": True},
            "description": f["description"],
        }
        if wanted is None or "*all" in wanted:
            return full
        return {k: v for k, v in full.items() if k in wanted}

    def _issue_json(self, issue: Issue, wanted: list[str] | None) -> dict:
        return {"expand": "", "id": issue.id, "self": f"{self.base_url}/rest/api/3/issue/{issue.id}",
                "key": issue.key, "fields": self._fields(issue, wanted)}

    def _get_issue(self, query, body, key):
        wanted = query.get("fields")
        return 200, self._issue_json(self._issue(key), wanted.split(",") if wanted else None), {}

    def _available(self, issue: Issue) -> list[tuple[str, str, str]]:
        return [(tid, name, to) for tid, (name, to) in self.transitions.items()
                if to != issue.fields["status"]]

    def _get_transitions(self, query, body, key):
        issue = self._issue(key)
        expand = "transitions.fields" in query.get("expand", "")
        out = []
        for tid, name, to in self._available(issue):
            t = {"id": tid, "name": name, "to": status_object(self.base_url, to), "hasScreen": False,
                 "isGlobal": True, "isInitial": False, "isAvailable": True, "isConditional": False}
            if to == "10001" and self.done_screen_resolutions:
                t["hasScreen"] = True
                if expand:
                    t["fields"] = {"resolution": {
                        "required": True, "schema": {"type": "resolution", "system": "resolution"},
                        "name": "Resolution", "key": "resolution", "operations": ["set"],
                        "allowedValues": [{"self": f"{self.base_url}/rest/api/3/resolution/{rid}", "id": rid,
                                           "name": rname} for rid, rname in RESOLUTIONS.items()]}}
            elif expand:
                t["fields"] = {}
            out.append(t)
        return 200, {"expand": "transitions", "transitions": out}, {}

    def _post_transition(self, query, body, key):
        issue = self._issue(key)
        if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
            self._violation("the body needs transition {id}")
        unknown = set(body) - {"transition", "fields", "update", "historyMetadata", "properties"}
        if unknown:
            self._violation(f"unknown keys {sorted(unknown)}",
                            messages=["Unrecognized field in the request."])
        tid = str(body["transition"].get("id"))
        available = {t[0]: t for t in self._available(issue)}
        if tid not in available:
            raise _JiraError(400, [f"Transition id '{tid}' is not valid for this issue."])
        if "TRANSITION_ISSUES" not in self.permissions:
            raise _JiraError(403, ["You do not have permission to transition this issue."])
        to = available[tid][2]
        resolution = None
        fields = body.get("fields") or {}
        for name in fields:
            if name != "resolution" or not (to == "10001" and self.done_screen_resolutions):
                raise _JiraError(400, [], {name: f"Field '{name}' cannot be set. {NOT_ON_SCREEN}"})
        if "resolution" in fields:
            given = fields["resolution"]
            by_name = {n: r for r, n in RESOLUTIONS.items()}
            resolution = given.get("id") or by_name.get(given.get("name"))
            if resolution not in RESOLUTIONS:
                raise _JiraError(400, [], {"resolution": "Resolution is invalid."})
        self._set_status(issue, to, resolution)
        return 204, None, {}

    def _set_status(self, issue: Issue, to: str, resolution: str | None = None) -> None:
        issue.fields["status"] = to
        issue.fields["resolution"] = (resolution or "10000") if STATUSES[to][1] == "done" else None

    def _post_comment(self, query, body, key):
        issue = self._issue(key)
        if not isinstance(body, dict) or "body" not in body:
            self._violation("a comment needs body")
        problems = adf_problems(body["body"], "body")
        if problems:
            self.violations += problems
            raise _JiraError(400, [], {"comment": "Comment body is not valid ADF"})
        comment = {"id": str(next(self._comment_ids)), "body": body["body"],
                   "self": f"{self.base_url}/rest/api/3/issue/{issue.id}/comment/x"}
        issue.comments.append(comment)
        return 201, comment, {}

    # JQL: the clauses the bot writes, joined by AND, with an optional ORDER BY
    _CLAUSE = re.compile(
        r'\s*(?:(project|labels|issuetype)\s*=\s*("(?:[^"\\]|\\.)*"|[\w-]+)'
        r'|(statusCategory)\s*!=\s*(Done|"Done")'
        r'|(key|issuekey)\s+in\s*\(([^)]*)\))\s*', re.IGNORECASE)

    def _parse_jql(self, jql: str) -> tuple[list, bool]:
        jql, _, order = jql.partition(" ORDER BY ")
        descending = order.strip().lower().endswith("desc")
        clauses = []
        for part in re.split(r"\s+AND\s+", jql.strip()):
            m = self._CLAUSE.fullmatch(part)
            if not m:
                raise _JiraError(400, [f"Error in the JQL Query: the stand-in cannot read '{part}'."])
            if m.group(1):
                value = m.group(2)
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                clauses.append((m.group(1).lower(), value))
            elif m.group(3):
                clauses.append(("notdone", None))
            else:
                keys = [k.strip().strip('"') for k in m.group(6).split(",") if k.strip()]
                clauses.append(("keys", keys))
        if not any(c[0] in ("project", "keys", "labels") for c in clauses):
            raise _JiraError(400, ["Unbounded JQL queries are not allowed here. Please add a search "
                                   "restriction to your query."])
        return clauses, descending

    def _search(self, query, body):
        if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
            self._violation("search/jql needs jql (a string)")
        unknown = set(body) - {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties",
                               "fieldsByKeys", "failFast", "reconcileIssues"}
        if unknown:
            self._violation(f"unknown keys {sorted(unknown)}",
                            messages=["Invalid request payload. Refer to the REST API documentation "
                                      "and try again."])
        wanted = body.get("fields")
        if wanted is not None and not (isinstance(wanted, list) and all(isinstance(x, str) for x in wanted)):
            self._violation("fields must be an array of strings")
        size = body.get("maxResults", 50)
        if not isinstance(size, int) or size < 1:
            self._violation("maxResults must be a positive integer")
        size = min(size, self.page_size, 5000)
        token = body.get("nextPageToken")
        if token:
            if token not in self._pages:
                raise _JiraError(400, ["The provided next page token is invalid or expired."])
            keys, start = self._pages.pop(token)
        else:
            clauses, descending = self._parse_jql(body["jql"])
            now = time.time()
            matched = []
            for clause in clauses:
                if clause[0] == "keys":
                    gone = [k for k in clause[1] if k not in self.issues]
                    if gone:
                        raise _JiraError(400, [f"An issue with key '{k}' does not exist for field 'key'."
                                               for k in gone])
            for issue in sorted(self.issues.values(), key=lambda i: int(i.id), reverse=descending):
                if now - issue.created < self.search_lag:
                    continue  # not in the search index yet
                if all(self._matches(issue, c) for c in clauses):
                    matched.append(issue.key)
            keys, start = matched, 0
        page = keys[start:start + size]
        result: dict = {"issues": [self._issue_json(self.issues[k], wanted or ["id"]) for k in page],
                        "isLast": start + size >= len(keys)}
        if start + size < len(keys):
            token = f"tok{next(self._comment_ids)}"
            self._pages[token] = (keys, start + size)
            result["nextPageToken"] = token
        return 200, result, {}

    def _matches(self, issue: Issue, clause) -> bool:
        kind, value = clause
        if kind == "project":
            return value in (self.project, self.project_id)
        if kind == "labels":
            return value in issue.fields["labels"]
        if kind == "issuetype":
            return value.casefold() == issue.fields["issuetype"]["name"].casefold()
        if kind == "notdone":
            return STATUSES[issue.fields["status"]][1] != "done"
        return issue.key in value


class _JiraError(Exception):
    def __init__(self, status: int, messages: list[str], errors: dict | None = None):
        super().__init__(status)
        self.status, self.messages, self.errors = status, messages, errors or {}
