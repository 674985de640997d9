"""`incident-bot` as an operator types it: one line for every mistake and outage, never a traceback,
and the read-only commands never create or migrate a database."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from importlib.metadata import version

import pytest

from storage.db import Database
from storage.existing import head_revision
from tests.support.process import REPO, free_port

READ_ONLY = [("incidents",), ("incidents", "--json"), ("timeline", "1"), ("postmortem", "export", "1")]


def cli(*args: str, env: dict | None = None, stdout=subprocess.PIPE, cwd="/tmp") -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO)}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=full_env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60, cwd=cwd, check=False)


def one_line(result: subprocess.CompletedProcess) -> str:
    """The single line on stderr (no traceback), which starts with the program's name. (`run` logs
    what it is doing at INFO first: those lines are not errors.)"""
    lines = [line for line in result.stderr.strip().splitlines() if not re.match(r"^\S+Z INFO ", line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("incident-bot: ") and "Traceback" not in result.stderr
    return lines[0]


def sqlite_at_revision(path, revision: str) -> str:
    url = f"sqlite:///{path}"
    db = Database(url)
    db.upgrade(revision)
    db.dispose()
    return url


def alembic_version(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


@pytest.mark.parametrize("args", READ_ONLY)
def test_a_mistyped_sqlite_path_says_there_is_no_database_and_creates_none(tmp_path, args):
    missing = tmp_path / "old.db"
    result = cli(*args, env={"DATABASE_URL": f"sqlite:///{missing}"})
    assert result.returncode == 2
    assert f"there is no database at {missing}" in one_line(result)
    assert result.stdout == ""
    assert not missing.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", READ_ONLY)
def test_a_database_behind_the_migrations_is_left_alone_and_says_run_db_upgrade(tmp_path, args):
    path = tmp_path / "behind.db"
    url = sqlite_at_revision(path, "0002")
    result = cli(*args, env={"DATABASE_URL": url})
    assert result.returncode == 1
    line = one_line(result)
    assert "run `incident-bot db upgrade`" in line and f"needs {head_revision()}" in line
    assert alembic_version(path) == "0002"
    assert cli("db", "upgrade", env={"DATABASE_URL": url}).returncode == 0
    assert cli(*args[:1], env={"DATABASE_URL": url}).stderr.count("run `incident-bot db upgrade`") == 0


def test_a_file_that_is_not_the_bots_database_is_named_as_such(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x)")
    result = cli("incidents", env={"DATABASE_URL": f"sqlite:///{path}"})
    assert result.returncode == 2 and "holds no incident-bot data" in one_line(result)
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_a_sqlite_file_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    url = f"sqlite:///{tmp_path}/a-file/bot.db"
    for args in (("db", "upgrade"), ("reminders", "sweep")):
        result = cli(*args, env={"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-test-token-0000"})
        assert result.returncode == 2, result.stderr
        assert "cannot open or create the SQLite database" in one_line(result)


def test_a_postgresql_server_that_refuses_is_a_failure_not_a_setting():
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/incidents"
    tokens = {"SLACK_BOT_TOKEN": "xoxb-test-token-0000", "SLACK_SIGNING_SECRET": "secret"}
    for args in (("incidents",), ("timeline", "1"), ("db", "upgrade"), ("run",), ("reminders", "sweep")):
        result = cli(*args, env={"DATABASE_URL": url, **tokens})
        assert result.returncode == 1, result.stderr
        assert "refused the connection: start the server" in one_line(result)
        assert "s3cret-pw" not in result.stderr + result.stdout


def test_a_postgresql_server_that_does_not_answer_says_so_within_the_connect_timeout():
    with socket.socket() as silent:  # accepts the TCP connection, never speaks PostgreSQL
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/incidents"
        for args in (("incidents",), ("db", "upgrade")):
            result = cli(*args, env={"DATABASE_URL": url})
            assert result.returncode == 1, result.stderr
            assert "did not answer" in one_line(result) and "then try again" in result.stderr


def test_an_unknown_database_host_is_a_setting():
    result = cli("incidents", env={"DATABASE_URL": "postgresql://postgres@no-such-host.invalid/incidents"})
    assert result.returncode == 2
    assert "the database host 'no-such-host.invalid' in DATABASE_URL is unknown" in one_line(result)


@pytest.mark.postgres
@pytest.mark.parametrize("args", [("incidents",), ("db", "upgrade")])
def test_a_missing_postgresql_database_or_role_is_a_setting(args):
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs TEST_POSTGRES_URL")
    server = base.rsplit("/", 1)[0]
    result = cli(*args, env={"DATABASE_URL": f"{server}/no_such_database_here"})
    assert result.returncode == 2
    assert "has no database 'no_such_database_here': create it" in one_line(result)
    role = server.replace("://postgres@", "://no_such_role@")
    result = cli(*args, env={"DATABASE_URL": f"{role}/test"})
    assert result.returncode == 2
    assert "has no role 'no_such_role'" in one_line(result)


@pytest.mark.parametrize("args", [("reminders", "sweep"), ("run",)])
def test_a_token_pasted_with_non_ascii_characters_is_one_line_that_does_not_show_it(tmp_path, args):
    token = "xoxb-1234-secretpart…"  # the README's placeholder ends in an ellipsis
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/bot.db", "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": "s",
           "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"}
    result = cli(*args, env=env)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("incident-bot: SLACK_BOT_TOKEN is invalid: character 21")
    assert "secretpart" not in result.stderr + result.stdout


def test_export_to_a_missing_or_unwritable_place_is_one_line(bot, tmp_path):
    bot.command("start Checkout errors sev2")
    env = {"DATABASE_URL": bot.settings.database_url}
    result = cli("postmortem", "export", "1", "--output", str(tmp_path / "nowhere" / "pm.md"), env=env)
    assert result.returncode == 2
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in one_line(result)
    result = cli("postmortem", "export", "1", "--output", str(tmp_path), env=env)  # a folder, not a file
    assert result.returncode == 2 and "cannot write" in one_line(result)
    result = cli("postmortem", "export", "1", "--output", str(tmp_path / "pm.md"), env=env)
    assert result.returncode == 0 and (tmp_path / "pm.md").read_text().startswith("#")


def test_a_reader_that_goes_away_stops_the_output_quietly(bot):
    bot.command("start Checkout errors sev2")
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` does once it has its line
    try:
        result = cli("timeline", "1", "--json", env={"DATABASE_URL": bot.settings.database_url}, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""


@pytest.mark.parametrize("number", ["INC-99999999999999999999", "2147483648", "9" * 400])
def test_an_incident_number_too_large_for_the_database_is_no_such_incident(database_url, number):
    for args in (("timeline", number), ("postmortem", "export", number)):
        result = cli(*args, env={"DATABASE_URL": database_url})
        assert result.returncode == 1
        assert f"there is no INC-{number.removeprefix('INC-')}" in one_line(result)


def test_version_is_the_installed_one():
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"incident-bot {version('incident-bot')}"


def test_read_only_commands_check_only_the_settings_they_use(tmp_path):
    url = f"sqlite:///{tmp_path}/bot.db"
    assert cli("db", "upgrade", env={"DATABASE_URL": url, "PORT": "not-a-port"}).returncode == 0
    listed = cli("incidents", "--json", env={"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxp-wrong-kind"})
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    bad_zone = cli("incidents", env={"DATABASE_URL": url, "DEFAULT_TIMEZONE": "Europe/Berln"})
    assert bad_zone.returncode == 2
    assert one_line(bad_zone) == ("incident-bot: DEFAULT_TIMEZONE is invalid: is not an IANA time zone name "
                                  "(such as UTC or Europe/Berlin) (got 'Europe/Berln')")


def test_settings_come_from_a_dotenv_file_under_the_environment(tmp_path):
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/from-dotenv.db\n")
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-dotenv.db").exists()
    missing = cli("incidents", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{tmp_path}/from-env.db"})
    assert "from-env.db" in one_line(missing)


@pytest.fixture
def no_zone_database(monkeypatch):
    """A machine with neither /usr/share/zoneinfo nor the tzdata package (Windows, slim images)."""
    import zoneinfo

    from bot import when

    monkeypatch.setitem(sys.modules, "tzdata", None)
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    when._zone_names.cache_clear()
    yield
    zoneinfo.reset_tzpath()
    zoneinfo.ZoneInfo.clear_cache()
    when._zone_names.cache_clear()


def test_without_a_zone_database_the_zone_message_says_to_install_tzdata(no_zone_database):
    from bot.config import ConfigError, load_settings
    from bot.environment import load_command_settings

    for load in (lambda: load_settings(_env_file=None), lambda: load_command_settings(env_file=None)):
        with pytest.raises(ConfigError) as raised:
            load()
        message = str(raised.value)
        assert message.startswith("DEFAULT_TIMEZONE is invalid: This machine has no time zone database")
        assert "pip install tzdata" in message and "is not an IANA" not in message


def test_installing_incident_bot_brings_a_zone_database():
    from importlib.metadata import requires

    assert any(r.split(";")[0].strip().lower().startswith("tzdata") for r in requires("incident-bot"))


def test_export_uses_templates_dir_and_names_a_wrong_one(bot, tmp_path):
    bot.command("start Checkout errors sev2")
    (tmp_path / "mine.md.j2").write_text("# {{ ref }} by our own template\n")
    env = {"DATABASE_URL": bot.settings.database_url, "TEMPLATES_DIR": str(tmp_path)}
    result = cli("postmortem", "export", "1", "--template", "mine", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "# INC-1 by our own template\n"
    wrong = cli("postmortem", "export", "1", env={**env, "TEMPLATES_DIR": str(tmp_path / "nope")})
    assert wrong.returncode == 2
    assert one_line(wrong).startswith(f"incident-bot: TEMPLATES_DIR is invalid: {tmp_path / 'nope'} is not a directory")


@pytest.mark.parametrize("args", [("incidents",), ("db", "upgrade"), ("run",)])
def test_a_database_url_of_the_wrong_kind_is_named_without_its_password(args):
    result = cli(*args, env={"DATABASE_URL": "mysql://bob:hunter2@db.example/x", "SLACK_BOT_TOKEN": "xoxb-1"})
    line = one_line(result)
    assert result.returncode == 2 and "DATABASE_URL" in line and "mysql://bob:***@db.example/x" in line
    assert "hunter2" not in result.stderr + result.stdout
