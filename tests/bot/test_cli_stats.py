"""`incident-bot stats`: incidents recorded through the real app, read back as a table, JSON and CSV,
by month in DEFAULT_TIMEZONE; read-only, and one line for a bad date."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import main
from bot.statistics import COLUMNS
from tests.bot.commands.test_incident import open_incident
from tests.bot.test_cli import alembic_version, cli, one_line, sqlite_at_revision
from tests.support.process import REPO

DECLARED_1 = datetime(2026, 3, 31, 21, 0, tzinfo=UTC)  # 23:00 CEST: March in Berlin
DECLARED_2 = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 00:30 CEST on 1 April: April in Berlin


@pytest.fixture
def recorded(make_bot, database_url):
    """Two incidents as people record them: INC-1 (sev1) never says when impact started; INC-2 (sev2) does."""
    clock = {"now": DECLARED_1}
    bot = make_bot(clock=lambda: clock["now"])

    def at(when: datetime, text: str, channel: str) -> None:
        clock["now"] = when
        reply = bot.text(text, channel_id=channel)
        assert "INC-" in reply, reply

    first = open_incident(bot, "Search is slow sev1")
    at(DECLARED_1 + timedelta(minutes=10), "acknowledged", first)
    at(DECLARED_1 + timedelta(minutes=40), "mitigated", first)
    at(DECLARED_1 + timedelta(minutes=60), "resolved", first)
    clock["now"] = DECLARED_2
    second = open_incident(bot, "Checkout errors sev2")
    at(DECLARED_2, "started 22:00 UTC", second)
    at(DECLARED_2 + timedelta(minutes=5), "acknowledged", second)
    at(DECLARED_2 + timedelta(minutes=60), "mitigated", second)
    at(DECLARED_2 + timedelta(minutes=120), "resolved", second)
    bot.drain()
    return database_url


def stats(url: str, *args: str, zone: str = "UTC"):
    result = cli("stats", *args, env={"DATABASE_URL": url, "DEFAULT_TIMEZONE": zone})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def test_json_by_month_in_the_default_zone(recorded):
    berlin = json.loads(stats(recorded, "--json", zone="Europe/Berlin"))
    assert (berlin["timezone"], berlin["from"], berlin["to"]) == ("Europe/Berlin", None, None)
    assert "interpolation" in berlin["percentile"]
    assert [(r["month"], r["severity"], r["count"]) for r in berlin["rows"]] == [
        ("2026-03", "all", 1), ("2026-03", "sev1", 1), ("2026-04", "all", 1), ("2026-04", "sev2", 1)]
    march, april = berlin["rows"][0], berlin["rows"][2]
    # INC-1: no `started`, so mitigate and resolve run from the declaration, and detection is not measured
    assert (march["time_to_detect_median_s"], march["time_to_detect_n"]) == (None, 0)
    assert march["time_to_acknowledge_median_s"] == 600
    assert (march["time_to_mitigate_median_s"], march["time_to_mitigate_from_declared"]) == (2400, 1)
    assert (march["time_to_resolve_median_s"], march["time_to_resolve_from_declared"]) == (3600, 1)
    # INC-2: impact started 30 minutes before it was declared (and detected)
    assert [april[f"{k}_median_s"] for k in ("time_to_detect", "time_to_acknowledge", "time_to_mitigate",
                                              "time_to_resolve")] == [1800, 300, 5400, 9000]
    assert april["time_to_resolve_from_declared"] == 0

    utc = json.loads(stats(recorded, "--json"))
    [total] = [r for r in utc["rows"] if r["severity"] == "all"]
    assert (total["month"], total["count"], total["time_to_resolve_n"]) == ("2026-03", 2, 2)
    assert (total["time_to_resolve_median_s"], total["time_to_resolve_p90_s"]) == (6300, 8460)
    assert total["time_to_acknowledge_median_s"] == 450 and total["time_to_detect_n"] == 1


def test_from_and_to_are_days_in_the_default_zone_to_included(recorded):
    def months(*args, zone):
        rows = json.loads(stats(recorded, "--json", *args, zone=zone))["rows"]
        return [(r["month"], r["count"]) for r in rows if r["severity"] == "all"]

    assert months("--from", "2026-04-01", zone="Europe/Berlin") == [("2026-04", 1)]
    assert months("--to", "2026-03-31", zone="Europe/Berlin") == [("2026-03", 1)]
    assert months("--to", "2026-03-31", zone="UTC") == [("2026-03", 2)]
    assert months("--from", "2026-03", "--to", "2026-03", zone="UTC") == [("2026-03", 2)]
    assert months("--from", "2026-04-01", zone="UTC") == []
    dated = json.loads(stats(recorded, "--json", "--from", "2026-03", "--to", "2026-04", zone="UTC"))
    assert (dated["from"], dated["to"]) == ("2026-03-01", "2026-04-30")


def test_csv_is_the_insights_columns_with_seconds(recorded):
    rows = list(csv.DictReader(io.StringIO(stats(recorded, "--csv", zone="Europe/Berlin"))))
    assert tuple(rows[0]) == COLUMNS
    assert [(r["month"], r["severity"], r["count"]) for r in rows] == [
        ("2026-03", "all", "1"), ("2026-03", "sev1", "1"), ("2026-04", "all", "1"), ("2026-04", "sev2", "1")]
    assert rows[0]["time_to_detect_median_s"] == "" and rows[0]["time_to_resolve_median_s"] == "3600"
    assert rows[3]["time_to_mitigate_p90_s"] == "5400"


def test_the_table_names_the_zone_and_reads_as_durations(recorded):
    out = stats(recorded, zone="Europe/Berlin")
    assert "months and days in Europe/Berlin" in out
    lines = out.splitlines()
    [march] = [line for line in lines if line.startswith("2026-03  all")]
    assert "10m 00s / 10m 00s (1)" in march and "1h 00m / 1h 00m (1)" in march
    [april] = [line for line in lines if line.startswith("2026-04  SEV2")]
    assert "30m 00s" in april and "2h 30m / 2h 30m (1)" in april
    assert "measured from the declaration" in out
    assert "from 2026-04-01" in stats(recorded, "--from", "2026-04-01", zone="Europe/Berlin")


def test_in_process_the_same_figures(recorded, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", recorded)
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Europe/Berlin")
    assert main(["stats", "--csv", "--from", "2026-04"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["month"], r["severity"], r["time_to_resolve_median_s"]) for r in rows] == [
        ("2026-04", "all", "9000"), ("2026-04", "sev2", "9000")]
    assert main(["stats", "--to", "2026-02-28"]) == 0
    assert capsys.readouterr().out.strip() == ("No incidents declared to 2026-02-28 "
                                               "(months and days in Europe/Berlin).")


def test_an_empty_database(database_url):
    assert stats(database_url).strip() == "No incidents yet."
    assert json.loads(stats(database_url, "--json"))["rows"] == []
    assert stats(database_url, "--csv") == ",".join(COLUMNS) + "\n"


@pytest.mark.parametrize(("args", "fragment"), [
    (("--from", "2026-13-01"), "--from '2026-13-01' is not a date: write YYYY-MM-DD"),
    (("--to", "last week"), "--to 'last week' is not a date"),
    (("--from", "2026-04-01", "--to", "2026-03-01"), "--from 2026-04-01 is after --to 2026-03-01"),
])
def test_a_bad_date_is_one_line_and_exit_2(database_url, args, fragment):
    result = cli("stats", *args, env={"DATABASE_URL": database_url})
    assert result.returncode == 2 and result.stdout == ""
    assert fragment in one_line(result)


def test_json_and_csv_together_are_refused():
    result = cli("stats", "--json", "--csv")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_a_mistyped_database_is_named_and_nothing_is_created(tmp_path):
    missing = tmp_path / "old.db"
    result = cli("stats", env={"DATABASE_URL": f"sqlite:///{missing}"})
    assert result.returncode == 2 and result.stdout == ""
    assert f"there is no database at {missing}" in one_line(result)
    assert list(tmp_path.iterdir()) == []


def test_a_database_behind_the_migrations_is_left_alone(tmp_path):
    path = tmp_path / "behind.db"
    url = sqlite_at_revision(path, "0002")
    result = cli("stats", "--csv", env={"DATABASE_URL": url})
    assert result.returncode == 1 and result.stdout == ""
    assert "run `incident-bot db upgrade`" in one_line(result)
    assert alembic_version(path) == "0002"


def test_out_of_order_milestones_and_no_severity_read_plainly_in_the_table(make_bot, database_url):
    clock = {"now": datetime(2026, 5, 12, 10, 0, tzinfo=UTC)}
    bot = make_bot(clock=lambda: clock["now"])
    channel = open_incident(bot, "Queue backlog")  # no severity
    clock["now"] += timedelta(minutes=30)
    for text in ("mitigated 10:20 UTC", "started 10:25 UTC", "resolved"):  # started typed after mitigation
        assert "INC-1" in bot.text(text, channel_id=channel)
    out = stats(database_url)
    [line] = [line for line in out.splitlines() if line.startswith("2026-05  not set")]
    # detected at the declaration (10:00), before it started: left out; acknowledged: not recorded
    assert line.split()[3:6] == ["1", "-", "-"]
    assert "5m 00s / 5m 00s (1)" in line  # resolved 10:30, started 10:25; mitigation (10:20) left out
    assert "Left out, milestones out of order: time to detect 1, time to mitigate 1." in out
    assert json.loads(stats(database_url, "--json"))["rows"][0]["time_to_mitigate_excluded"] == 1


def test_stats_starts_like_incidents_without_sqlalchemy_or_pydantic(database_url):
    program = ("import sys; from bot.cli import main; status = main(['stats', '--csv']); "
               "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
               "{'sqlalchemy', 'sqlmodel', 'pydantic', 'alembic', 'slack_bolt'}); "
               "print(status, heavy, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", program], env={
        "PATH": os.environ["PATH"], "HOME": "/tmp", "PYTHONPATH": str(REPO), "DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=60, cwd="/tmp", check=False)
    assert result.stderr.strip() == "0 []"
    assert result.stdout.startswith("month,severity,count,")
