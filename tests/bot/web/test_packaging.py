"""The web view's templates and stylesheet are package data: a non-editable install (the README's
quick start) serves them too."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_every_template_and_static_file_is_installed_with_the_package():
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bot.web"]
    web = REPO / "bot" / "web"
    files = {p.relative_to(web) for folder in ("templates", "static") for p in (web / folder).rglob("*") if p.is_file()}
    assert files
    covered = {f for f in files if any(f.match(pattern) for pattern in globs)}
    assert covered == files, f"not installed: {sorted(map(str, files - covered))}"
