"""The README's quick start: two self-contained commands, the test one run by CI verbatim, installing
the locked versions that pyproject.toml allows; and plain `pytest` without PostgreSQL stays quiet."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Quick start"):readme.index("### HTTP mode")]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line for line in block.splitlines() if line.strip()]


def locked(name: str) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", (REPO / "requirements" / name).read_text(), re.MULTILINE)
    return {package.lower().replace("_", "-"): version for package, version in pins}


def test_each_quick_start_command_makes_its_own_environment_from_a_lock():
    run, test = quick_start_commands()
    for command in (run, test):
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -q -r requirements/")
        assert not re.search(r"(^|&& )(pip|pytest|incident-bot)\b", command), "every tool comes from .venv"
    assert run.endswith(".venv/bin/incident-bot run") and "requirements/run.lock" in run
    assert test.endswith(".venv/bin/python -m pytest") and "requirements/test.lock" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = quick_start_commands()
    assert test in (REPO / ".ci" / "run").read_text().splitlines()


def test_the_locks_pin_every_dependency_within_its_bounds_with_hashes():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    tests = [Requirement(r) for r in project["optional-dependencies"]["test"]]
    for lock, requirements in (("run.lock", runtime), ("test.lock", runtime + tests)):
        pins = locked(lock)
        for requirement in requirements:
            name = requirement.name.lower().replace("_", "-")
            assert name in pins, f"{name} is missing from requirements/{lock}"
            assert requirement.specifier.contains(pins[name]), f"{lock} pins {name} {pins[name]} outside {requirement}"
        text = (REPO / "requirements" / lock).read_text()
        assert text.count("==") == len(pins) and text.count("--hash=sha256:") >= len(pins)
    run, test = locked("run.lock"), locked("test.lock")
    assert {name: test[name] for name in run} == run, "the two locks must agree on the bot's own dependencies"


def test_runtime_dependencies_stop_below_the_next_major_version():
    for text in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(text)
        if requirement.name == "tzdata":  # time zone data: newer is always right
            continue
        assert any(spec.operator == "<" for spec in requirement.specifier), f"{text} has no upper bound"


def test_plain_pytest_without_postgresql_says_so_in_one_line():
    env = {k: v for k, v in os.environ.items() if k != "TEST_POSTGRES_URL"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/storage/test_existing.py"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.strip().splitlines()
    about_postgres = [line for line in lines if "PostgreSQL" in line or "TEST_POSTGRES_URL" in line]
    assert len(about_postgres) == 1 and "TEST_POSTGRES_URL=" in about_postgres[0]
    assert not [line for line in lines if line.startswith("SKIPPED")]
    assert re.search(r"\b\d+ passed, \d+ deselected in ", lines[-1])
