"""Curation from the page, through the same use cases as Slack (one use case, two front doors): marking
an action item done (`bot.actions.close_item`, as the Done button does). Each is a POST with the
session's CSRF token, by the signed-in person (who becomes the author in the activity log), and
redirects back to the page it came from (303), with one line saying what happened."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from bot import actions
from bot.web.auth import safe_next
from storage import browse

blueprint = Blueprint("curation", __name__)


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
