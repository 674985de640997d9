"""Issue trackers: the interface (base.py), GitHub (github.py), Jira Cloud (jira.py), and the one
function that picks the configured one. See docs/trackers.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.trackers.base import (
    CloseReason,
    IssueState,
    IssueStatus,
    NewIssue,
    Tracker,
    TrackerAuthError,
    TrackerError,
    TrackerIssue,
    TrackerRetryLater,
    WebhookChange,
)

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = [
    "CloseReason", "IssueState", "IssueStatus", "NewIssue", "Tracker", "TrackerAuthError", "TrackerError",
    "TrackerIssue",
    "TrackerRetryLater", "WebhookChange", "build_tracker",
]


def build_tracker(settings: Settings) -> Tracker | None:
    """The tracker TRACKER names, built from its settings (None for TRACKER=none).

    Each tracker module has `from_settings(settings) -> Tracker`; the settings were checked at start
    (`Settings.require_tracker`), so this raises nothing for a configured tracker. Nothing is
    sent over the network here.
    """
    if settings.tracker == "github":
        from bot.trackers.github import from_settings
    elif settings.tracker == "jira":
        from bot.trackers.jira import from_settings
    else:
        return None
    return from_settings(settings)
