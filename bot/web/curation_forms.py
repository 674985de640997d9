"""Curation from the page, through the same use cases as Slack (one use case, two front doors): edit an
entry's time or text, hide or show it, mark it a key event (`bot.curation.edit_entry`), and mark an
action item done (`bot.actions.close_item`, as the Done button does). Each is a POST with the
session's CSRF token, by the signed-in person (who becomes the author in the activity log), and
redirects back to the page it came from (303), with one line saying what happened."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from datetime import datetime

from bot import actions, curation
from bot.changes import Actor
from bot.web.auth import safe_next
from bot.when import WhenError, localize, zone_display_name
from storage import browse

CHANGES = {"hide": {"hidden": True}, "show": {"hidden": False}, "key": {"key": True}, "unkey": {"key": False}}

blueprint = Blueprint("curation", __name__)

EARLIEST_YEAR, LATEST_YEAR = 1970, 9998  # outside them a time cannot be shown in every zone


def _web():
    from bot.web import web_of

    return web_of()


def _actor() -> str:
    if g.viewer is None or g.viewer.user_id is None:
        abort(403, description="Changes need a signed-in person: sign in with Slack (WEB_AUTH=none is read-only).")
    return g.viewer.user_id


def _back(number: int):
    return redirect(safe_next(request.form.get("back") or url_for("incidents.incident_page", number=number)), code=303)


def _visible(session, number: int) -> None:
    exists, channel = browse.incident_channel(session, number)
    if not exists or not _web().visibility.can_see(g.viewer.user_id, channel):
        abort(404)


@blueprint.post("/actions/<int:item_id>/done")
def item_done(item_id: int):
    user_id = _actor()
    web = _web()
    with web.services.db.write() as session:
        number = browse.item_incident(session, item_id)
        if number is None:
            abort(404)
        _visible(session, number)
        item = actions.close_item(session, item_id, user_id, web.services.now(), "done")
    flash(f"Action #{item_id} is {item.status}." if item is not None else f"Action #{item_id} is gone.")
    return _back(number)


def _typed_time(raw: str, zone) -> datetime:
    """A datetime-local field's value (`2026-03-29T02:30` or with seconds) in the viewer's zone."""
    try:
        naive = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise curation.CurationRefused(f"“{raw[:30]}” is not a time: give it as 2026-03-29 14:05.") from None
    if naive.tzinfo is not None:
        raise curation.CurationRefused("Give the time without a zone: it is read in the zone the page shows.")
    if not EARLIEST_YEAR <= naive.year <= LATEST_YEAR:
        raise curation.CurationRefused(f"“{raw[:30]}” is out of range: give a time between {EARLIEST_YEAR} "
                                       f"and {LATEST_YEAR}, such as 2026-03-29 14:05.")
    try:
        return localize(naive, zone)
    except WhenError:  # a time the clocks skipped (daylight saving time)
        raise curation.CurationRefused(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_display_name(zone)}: the clocks skipped it for "
            "daylight saving time. Give a time just before or after it, or switch the page to UTC.") from None


@blueprint.post("/incidents/<int:number>/entries/<int:entry_id>")
def entry_change(number: int, entry_id: int):
    user_id = _actor()
    web = _web()
    with web.services.db.read() as session:
        _visible(session, number)
        if browse.entry_incident(session, entry_id) != number:
            abort(404)  # never say which incident it is in: that one may be private
    change = request.form.get("change", "")
    try:
        if change in CHANGES:
            values = CHANGES[change]
        elif change == "edit":
            typed = request.form.get("at", "")
            at = None if typed == request.form.get("at_was") else _typed_time(typed, g.viewer.zone)
            # what the page showed: a stale page never undoes someone else's edit (bot.curation.Seen)
            seen = curation.Seen(at=None, text=request.form.get("text_seen") or None,
                                 shown=request.form.get("text_shown") or None)
            values = {"at": at, "text": request.form.get("text", ""), "seen": seen}
        else:
            abort(400, description="Choose what to change: hide, show, key event or save an edit.")
        done = curation.edit_entry(web.services, Actor(user_id), number, entry_id, **values)
    except curation.CurationRefused as exc:
        flash(str(exc))
    else:
        flash("Saved." if done.changed else "Nothing changed.")
    return _back(number)
