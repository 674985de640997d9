"""Who is looking, and how things are shown to them: their time zone (their Slack profile, or UTC
when they switch), people's names, user text made plain (never HTML), pages of long lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from math import ceil
from urllib.parse import urlencode

from flask import Flask, g, redirect, request, session, url_for

from bot import text as T
from bot.web import sessions
from bot.when import format_time, zone_display_name
from storage import browse, outbox_jobs, profiles
from storage.db import DatabaseUnavailable


@dataclass(frozen=True)
class Viewer:
    user_id: str | None  # None: nobody signed in (WEB_AUTH=none)
    name: str | None
    own_zone: tzinfo
    utc: bool

    @property
    def zone(self) -> tzinfo:
        return UTC if self.utc else self.own_zone

    @property
    def zone_name(self) -> str:
        return zone_display_name(self.zone)

    @property
    def own_zone_name(self) -> str:
        return zone_display_name(self.own_zone)

    def when(self, at: datetime | None) -> str:
        return format_time(at, self.zone) if at is not None else ""


def load_viewer(web, *, open_path: bool):
    """Set `g.viewer`; a page that needs sign-in sends the person to sign in first."""
    settings = web.settings
    utc = bool(session.get("utc"))
    if not settings.sign_in_enabled:
        g.viewer = Viewer(None, None, settings.zone, utc)
        return None
    user_id = sessions.signed_in_user(web.services.db)
    if user_id is None:
        g.viewer = None
        if open_path:
            return None
        if request.method != "GET":
            from flask import abort

            abort(403, description="Sign in first, then try again.")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.viewer = Viewer(user_id, session.get("name"), web.services.people.zone_of(user_id), utc)
    return None


LEARN_AT_ONCE = 25  # people whose names one page view asks the outbox to look up, at most


def names_for(session_db, user_ids: Iterable[str | None]) -> dict[str, str]:
    """Display names the bot has stored for these people. Someone it never looked up is shown by their
    ID this time, and a `profile` job (users.info, in the background) is queued so the next view
    names them: the page itself never waits on Slack."""
    ids = [u for u in user_ids if u]
    names = profiles.user_names(session_db, ids)
    unknown = browse.people_never_looked_up(session_db, [u for u in ids if u not in names])[:LEARN_AT_ONCE]
    if unknown:
        g.setdefault("learn_names", set()).update(unknown)
    return names


def learn_names(web) -> None:
    """Queue the profile look-ups a page asked for (after it is rendered; a failure costs only names)."""
    unknown = g.pop("learn_names", None)
    if not unknown:
        return
    now = web.services.now()
    try:
        with web.services.db.write() as session:
            for user_id in sorted(unknown):
                outbox_jobs.enqueue(session, "profile", {"user_id": user_id}, now, coalesce_key=f"profile:{user_id}")
    except DatabaseUnavailable:
        pass


def plain(encoded: str | None, names: Mapping[str, str]) -> str:
    """Stored user text as what people read: no live mention, link or markup (Jinja escapes the rest)."""
    return T.plain(encoded or "", names)


def who(user_id: str | None, names: Mapping[str, str]) -> str:
    if not user_id:
        return ""
    return "@" + names.get(user_id, user_id)


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def url(self, page: int, anchor: str = "") -> str:
        return with_args(page=page) + anchor


def page_number(raw: str | None, name: str = "page") -> int:
    if raw in (None, ""):
        return 1
    try:
        value = int(raw)
    except ValueError:
        return 1
    return max(1, min(value, 1_000_000))


def with_args(**changes) -> str:
    """This page's URL with some query arguments changed (None removes one); every value of a
    repeated argument (`?status=open&status=mitigated`) is kept."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    query = urlencode(args, doseq=True)
    return request.path + (f"?{query}" if query else "")


def register_filters(app: Flask) -> None:
    app.jinja_env.globals.update(with_args=with_args)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.template_filter("when")
    def _when(at):
        viewer = g.get("viewer")
        zone = viewer.zone if viewer else UTC
        return format_time(at, zone) if at is not None else ""

    @app.template_filter("iso")
    def _iso(at):
        return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at is not None else ""
