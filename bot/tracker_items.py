"""An action item as a tracker issue, and the item's tracker link as Slack and Markdown show it (pure).

User text is escaped twice over for the issue body: `bot.text.markdown` (nothing renders as a link,
HTML or a heading), then `github_safe` (no `@name` mention and no `#12`, `org/repo#12` or `GH-12`
reference goes live on GitHub: a zero-width space is put after `@`, `#` and `GH-`, as GitHub's own
bots do).
"""

from __future__ import annotations

import re
from datetime import date

from bot import text as T
from bot.trackers.base import NewIssue

TITLE_LIMIT = 200  # GitHub allows 256; Jira's summary 255
BODY_ITEM_LIMIT = 20_000
# what GitHub links in Markdown: `@name` (not inside an e-mail address), `#12`, `org/repo#12`, `GH-12`.
# A `#` is left alone only after an unescaped `&` (an HTML entity such as the bot's own `&#8203;`;
# a typed `&` arrives escaped as `\&`).
_LIVE = re.compile(r"(?<![\w&])@(?=[\w-])|(?<![^\\]&)#(?=[\w-])|(?<![\w])GH\\?-(?=\d)", re.IGNORECASE)
CREATE_FAILED = "could not create the tracker issue"
LINK_URL_LIMIT = 200  # a longer URL (never GitHub's or Jira's) is shown as its label only


def marker(item_id: int) -> str:
    """The unique string an item's issue carries, found again by `Tracker.find_by_marker`."""
    return f"incident-bot:item:{item_id}"


def github_safe(markdown: str) -> str:
    """Markdown in which GitHub links no `@mention`, no `#123`, `org/repo#123` or `GH-123` reference (a
    zero-width space after the `@`, `#` or `GH-`)."""
    return _LIVE.sub(lambda m: m.group() + "&#8203;", markdown)


def new_issue(*, item_id: int, text: str, due: date | None, incident_ref: str, incident_title: str,
              channel_url: str | None, owner_name: str | None, owner_email: str | None,
              names: dict[str, str] | None = None) -> NewIssue:
    """The issue for one item. `text` and `incident_title` are stored (Slack-encoded) text."""
    plain_text = T.plain(text, names)
    plain_title = T.plain(incident_title, names)
    title = T.truncate(" ".join(plain_text.split()), TITLE_LIMIT - len(incident_ref) - 3) + f" ({incident_ref})"
    body_text = github_safe(T.markdown(T.truncate(text, BODY_ITEM_LIMIT), names, inline=False))
    incident = f"{incident_ref}: {github_safe(T.markdown(incident_title, names))}"
    if channel_url:
        incident = f"[{incident}]({channel_url})"
    owner = github_safe(T.escape_markdown(owner_name)) if owner_name else "nobody yet (the commander is reminded)"
    lines = [
        body_text,
        "",
        f"- **Incident:** {incident}",
        f"- **Due:** {due.isoformat() if due else 'no due date'}",
        f"- **Owner:** {owner}",
        f"- **Action item:** #&#8203;{item_id}, from incident-bot (close it here or press Done in Slack)",
        "",
        f"<sub>{marker(item_id)}</sub>",
    ]
    return NewIssue(marker=marker(item_id), title=title, body="\n".join(lines), due=due, labels=("incident",),
                    owner_email=owner_email, owner_name=owner_name, text=plain_text, incident_ref=incident_ref,
                    incident_title=plain_title, link=channel_url)


# ---------------------------------------------------------------------------------------------
# how the link shows where the item is


def slack_link(item) -> str | None:
    """The item's tracker link for a Slack mrkdwn line (`<url|GitHub #118>`), or what went wrong; None
    when the item has no issue (yet) and nothing failed."""
    key, url = getattr(item, "tracker_key", None), getattr(item, "tracker_url", None)
    if key:
        label = tracker_label(getattr(item, "tracker", None), key)
        return f"<{safe_url(url)}|{label}>" if url and len(url) <= LINK_URL_LIMIT else label
    if getattr(item, "tracker_error", None):
        return f":warning: {CREATE_FAILED}"
    return None


def web_link(item) -> dict | None:
    """The same for the web view: {"label", "url" (http(s) only, else None), "failed"}; None when the
    item has no issue (yet) and nothing failed. The page's template escapes both."""
    key, url = getattr(item, "tracker_key", None), getattr(item, "tracker_url", None)
    if key:
        safe = url if url and url.lower().startswith(("https://", "http://")) else None
        return {"label": tracker_label(getattr(item, "tracker", None), key), "url": safe, "failed": False}
    if getattr(item, "tracker_error", None):
        return {"label": CREATE_FAILED, "url": None, "failed": True}
    return None


def markdown_link(item) -> str | None:
    """The same for the Markdown postmortem: `[GitHub #118](url)`."""
    key, url = getattr(item, "tracker_key", None), getattr(item, "tracker_url", None)
    if not key:
        return None
    label = tracker_label(getattr(item, "tracker", None), key)
    return f"[{label}](<{safe_url(url).replace(' ', '%20')}>)" if url else label


def tracker_label(tracker: str | None, key: str) -> str:
    if tracker == "github":
        return f"GitHub #{key}"
    if tracker == "jira":
        return f"Jira {key}"
    return key


def safe_url(url: str) -> str:
    """A URL the tracker gave, safe inside `<url|label>` (no `|` or `>` can end it early)."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
