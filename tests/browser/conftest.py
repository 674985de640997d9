"""Browser tests: Debian's Chromium, headless, driven by Playwright, against the bot serving HTTP on
a real port (waitress, as `incident-bot run` does) with the Slack stand-in as its OpenID provider.

Without a browser (no Playwright, or no Chromium at CHROMIUM), plain `pytest` leaves these tests out
and says so in one line at the end. With the environment variable CI set (.ci/run), they fail instead:
CI must run them. Screenshots of every page go to test-artifacts/browser/ (not committed).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from bot.config import Settings
from bot.server import http_server
from bot.slack_wsgi import wsgi_app
from tests.support import slack_requests as sr
from tests.support.harness import Harness
from tests.support.process import free_port
from tests.support.web import web_settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parents[1] / "test-artifacts" / "browser"
_LEFT_OUT = pytest.StashKey[str]()


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements/test.lock)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM to its path)"
    return None


def _is_browser_test(item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def pytest_collection_modifyitems(config, items):
    problem = browser_problem()
    if problem is None or os.environ.get("CI"):
        return  # they run (and under CI, the `browser` fixture fails them if they cannot)
    left_out = [item for item in items if _is_browser_test(item)]
    if left_out:
        items[:] = [item for item in items if not _is_browser_test(item)]
        config.hook.pytest_deselected(items=left_out)
        config.stash[_LEFT_OUT] = f"Browser tests not run: {len(left_out)} tests need a browser ({problem})"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    line = config.stash.get(_LEFT_OUT, None)
    if line:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def browser():
    problem = browser_problem()
    if problem:
        pytest.fail(f"the browser tests cannot run: {problem}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which(CHROMIUM) or CHROMIUM, headless=True)
        yield chromium
        chromium.close()


class Site:
    """The bot serving HTTP on a free port, and its Slack stand-in."""

    def __init__(self, bot: Harness, server, standin):
        self.bot, self.server, self.standin = bot, server, standin
        self.url = f"http://127.0.0.1:{server.port}"


@pytest.fixture
def site(tmp_path, standin, _sqlite_template):
    """SQLite only: these tests are about the browser, the storage behaviour is tested elsewhere."""
    path = tmp_path / "bot.db"
    shutil.copy(_sqlite_template, path)
    port = free_port()
    settings = Settings(_env_file=None, slack_bot_token="xoxb-test-token-0000", slack_signing_secret=sr.SIGNING_SECRET,
                        slack_api_url=standin.api_url, database_url=f"sqlite:///{path}", reminders_enabled=False,
                        port=port, web_threads=4, **web_settings(standin, web_base_url=f"http://127.0.0.1:{port}"))
    bot = Harness(settings, standin)
    server = http_server(wsgi_app(bot.runtime.app, bot.runtime.db, web=bot.runtime.web), settings)
    thread = threading.Thread(target=server.serve, name="browser-test-http", daemon=True)
    thread.start()
    try:
        yield Site(bot, server, standin)
    finally:
        server.stop()
        thread.join(timeout=30)
        bot.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context (no cookies), failing the test on any console error or dialog."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: m.type == "error" and tab.problems.append(f"console: {m.text}"))
    tab.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))

    def dialog(d):
        tab.problems.append(f"dialog: {d.message}")
        d.dismiss()

    tab.on("dialog", dialog)
    yield tab
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-top.png"))  # what the first screen shows
    return path
