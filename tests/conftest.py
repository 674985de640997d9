"""Fixtures: a Slack stand-in, a database on SQLite and (with TEST_POSTGRES_URL) on PostgreSQL,
settings that point the bot at both, and the bot itself in process."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from bot.config import Settings
from storage.db import Database, normalise_url
from tests.support import slack_requests as sr
from tests.support.harness import Harness
from tests.support.standin import SlackStandIn

hypothesis_settings.register_profile(
    "default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SETTING_NAMES = [name.upper() for name in Settings.model_fields] + ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET",
                                                                    "SLACK_VERIFICATION_TOKEN"]
TABLES_IN_DELETE_ORDER = None


_POSTGRES_LEFT_OUT = pytest.StashKey[int]()
POSTGRES_HOW = "TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python -m pytest -m postgres"


def pytest_collection_modifyitems(config, items):
    """Without TEST_POSTGRES_URL the PostgreSQL variants are left out, and counted once at the end."""
    if os.environ.get("TEST_POSTGRES_URL"):
        return
    left_out = [item for item in items if item.get_closest_marker("postgres")]
    if left_out:
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]
        config.hook.pytest_deselected(items=left_out)
    config.stash[_POSTGRES_LEFT_OUT] = len(left_out)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    count = config.stash.get(_POSTGRES_LEFT_OUT, 0)
    if count:
        terminalreporter.write_line(f"PostgreSQL variants not run: {count} tests need a server; run them with "
                                    f"{POSTGRES_HOW}")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Bolt and our settings read the environment: tests set only what they mean to."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_url():
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL is not set (the PostgreSQL variant runs in .ci/run)")
    name = f"incident_bot_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = sa.create_engine(normalise_url(url))
    with engine.begin() as conn:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        if tables:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A migrated, empty database: a SQLite file, or (postgres) a fresh PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("_postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def standin():
    server = SlackStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def make_settings(database_url, standin):
    def make(**overrides) -> Settings:
        values = {
            "_env_file": None,
            "slack_bot_token": "xoxb-test-token-0000",
            "slack_signing_secret": sr.SIGNING_SECRET,
            "slack_api_url": standin.api_url,
            "database_url": database_url,
            "reminders_enabled": False,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_bot(make_settings, standin):
    bots = []

    def make(clock=None, **overrides) -> Harness:
        bot = Harness(make_settings(**overrides), standin, clock)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.close()


@pytest.fixture
def bot(make_bot):
    return make_bot()
