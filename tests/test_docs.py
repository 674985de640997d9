"""docs/ stays true to the code: every module, function and file it names exists, and every link
between the pages leads somewhere. A rename that forgets the docs fails here, naming the page."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").glob("*.md"))
# Pages another change adds; a link to one is allowed to dangle until it lands.
PAGES_ADDED_ELSEWHERE: set[str] = set()

_FENCE = re.compile(r"```.*?```", re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_DOTTED = re.compile(r"`((?:bot|storage)(?:\.\w+)+)`")
_PATH = re.compile(r"`((?:bot|storage|tests|templates)/[\w/.-]+)`")


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes for a page's headings."""
    found = set()
    for line in _FENCE.sub("", markdown).splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            found.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return found


def resolve(dotted: str):
    """Import the longest module prefix of `bot.x.y`, then follow attributes; raise if any is missing."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ModuleNotFoundError:
            continue
    for name in parts[i:]:
        obj = getattr(obj, name)
    return obj


def test_there_are_pages():
    assert {p.name for p in PAGES} >= {"README.md", "commands.md", "capture.md", "postmortem.md",
                                       "reminders.md", "operating.md", "architecture.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_code_name_in_the_docs_exists(page):
    text = page.read_text()
    missing = []
    for dotted in sorted(set(_DOTTED.findall(text))):
        try:
            resolve(dotted)
        except AttributeError:
            missing.append(dotted)
    missing += [path for path in sorted(set(_PATH.findall(text))) if not (REPO / path).exists()]
    assert not missing, f"{page.name} names what the code no longer has: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_between_pages_leads_somewhere(page):
    broken = []
    for target in _LINK.findall(_FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve() if name else page
        if not path.exists():
            if path.name not in PAGES_ADDED_ELSEWHERE:
                broken.append(target)
            continue
        if anchor and anchor not in anchors(path.read_text()):
            broken.append(target)
    assert not broken, f"{page.name} links to what does not exist: {broken}"


def test_the_tracker_page_claims_a_reopen_from_slack_only_if_the_bot_sends_one():
    """docs/trackers.md must not promise that reopening an item in Slack reopens its issue while nothing
    in the bot calls `Tracker.reopen` (Slack has no reopen action)."""
    callers = [path for path in (REPO / "bot").rglob("*.py")
               if re.search(r"\.reopen\(", path.read_text(encoding="utf-8"))]
    page = (REPO / "docs" / "trackers.md").read_text(encoding="utf-8")
    claims = re.findall(r"\*\*Reopen(?:ing)?\*\*[^.]*transition", page)
    assert callers or not claims, claims
