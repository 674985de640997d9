"""Postmortems as code: an incident's latest draft committed to POSTMORTEM_REPO on a branch of its
own, with a pull request; publishing again updates the same branch and pull request.

`/postmortem publish` queues the `postmortem_publish` job (bot/jobs/trackers.py), which calls
`publish`; `incident-bot postmortem publish` calls it directly. The file's path and branch are chosen
at the first publish and kept (a later title change does not move the file).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, tzinfo

from bot import text as T
from bot.trackers.github import GitHubAPI, PullRequest, publish_file, publisher_from_settings
from storage import drafts, publications
from storage.db import Database
from storage.models import Incident, PostmortemDraft

SLUG_LIMIT = 50


class NothingToPublish(Exception):
    """The incident has no draft yet."""


def slug(title: str) -> str:
    """`Checkout errors (EU) – 5xx` → `checkout-errors-eu-5xx`: ASCII letters and digits, hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    return words[:SLUG_LIMIT].rstrip("-") or "incident"


def postmortem_path(number: int, title: str, declared: datetime, zone: tzinfo) -> str:
    """`postmortems/<YYYY-MM-DD>-inc-<n>-<slug>.md`, dated in the incident's display zone."""
    return f"postmortems/{declared.astimezone(zone):%Y-%m-%d}-inc-{number}-{slug(T.plain(title))}.md"


def branch_for(number: int) -> str:
    return f"postmortem/inc-{number}"


def publish(db: Database, settings, incident_id: int, by: str | None, now: datetime,
            api: GitHubAPI | None = None) -> tuple[PostmortemDraft, PullRequest]:
    """Commit the incident's latest draft and open (or update) its pull request. Raises
    NothingToPublish, or a tracker error (bot/trackers/base.py) from GitHub."""
    repo = settings.postmortem_repo
    with db.write() as session:
        incident = session.get(Incident, incident_id)
        draft = drafts.latest_draft(session, incident_id)
        if incident is None or draft is None:
            raise NothingToPublish(f"INC-{incident_id} has no postmortem draft yet")
        path = postmortem_path(incident.id, incident.title, incident.created_at, settings.display_zone(incident.display_tz))
        row = publications.claim_publication(session, incident_id, repo, path, branch_for(incident.id))
        place = (row.path, row.branch, row.pr_number)
        title = f"Postmortem INC-{incident.id}: {T.truncate(' '.join(T.plain(incident.title).split()), 200)}"
    body = (f"The postmortem of INC-{incident_id}, draft v{draft.version} (template `{draft.template}`), "
            "published by incident-bot. Review it here; publishing again updates this pull request.")
    own = api is None
    api = api or publisher_from_settings(settings)
    try:
        pull = publish_file(api, repo, branch=place[1], path=place[0], content=draft.markdown,
                            message=f"Postmortem INC-{incident_id}, draft v{draft.version}", title=title,
                            body=body, pr_number=place[2])
    finally:
        if own:
            api.close()
    with db.write() as session:
        publications.record_published(session, incident_id, pull.number, pull.url, draft.version, by, now)
    return draft, pull
