"""`GET /actions`: open action items across incidents, grouped by owner, overdue ones marked; a
signed-in person sees their own first (`?owner=mine`, the default), everyone's with `?owner=all`."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, g, render_template, request

from bot import tracker_items
from bot.web.viewing import names_for, plain, who
from storage import browse

blueprint = Blueprint("actions", __name__)


def _web():
    from bot.web import web_of

    return web_of()


@blueprint.get("/actions")
def action_list():
    viewer = g.viewer
    signed_in = viewer.user_id is not None
    view = request.args.get("owner") or ("mine" if signed_in else "all")
    if view not in ("mine", "all") or (view == "mine" and not signed_in):
        view = "all"
    today = _web().services.now().astimezone(viewer.zone).date()
    with _web().services.db.read() as session:
        hidden = _web().visibility.hidden(viewer.user_id, browse.incident_channels(session))
        items = browse.open_action_items(session, hidden, viewer.user_id if view == "mine" else None)
        names = names_for(session, {i.owner_id for i in items})
    groups = []
    for owner_id, owned in groupby(items, key=lambda i: i.owner_id):
        rows = [{"number": i.id, "incident": i.incident_id, "incident_title": plain(i.incident_title, names),
                 "text": plain(i.text, names), "due": i.due, "overdue": i.due is not None and i.due < today,
                 "issue": tracker_items.web_link(i)}
                for i in owned]
        groups.append({"owner": who(owner_id, names) or "No owner", "items": rows,
                       "overdue": sum(r["overdue"] for r in rows)})
    return render_template("actions.html", groups=groups, view=view, signed_in=signed_in, today=today,
                           count=len(items), overdue=sum(g_["overdue"] for g_ in groups))
