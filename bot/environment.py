"""The environment and `.env`, read without pydantic, and the rules settings are checked against.

`bot.config.Settings` (pydantic-settings) checks every setting and is what the bot runs with. The
commands that only read the database need five settings and must start at once, so they read them
here (`CommandSettings`), with the same precedence (the environment over `.env`, names in any case)
and the same rules: the functions below are the ones Settings' validators call.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(SystemExit):
    """Raised with a message (one line per bad setting); exits with status 2."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- rules (each returns the value to use, or raises ValueError with what to write instead) ------------

def database_url_rule(value: str) -> str:
    if not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", value):
        raise ValueError("must start with sqlite:/// or postgresql:// (e.g. postgresql://user@host/db)")
    return value


def zone_rule(value: str) -> str:
    from bot.when import WhenError, zone_named

    try:
        return zone_named(value).key
    except WhenError as exc:
        if "no time zone database" in str(exc):
            raise ValueError(str(exc).replace("`", "")) from None
        raise ValueError("is not an IANA time zone name (such as UTC or Europe/Berlin)") from None


def emoji_rule(value: str) -> str:
    value = value.strip().strip(":")
    if not re.fullmatch(r"[a-z0-9_+'-]{1,100}", value):
        raise ValueError("must be an emoji name such as pushpin (without colons)")
    return value


def level_rule(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def templates_dir_rule(value: str | Path) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory")
    return path


def ascii_secret_rule(value: str) -> str:
    """Slack's tokens and secrets are plain ASCII; a pasted `…` or a curly quote would fail in HTTP headers."""
    for position, char in enumerate(value, 1):
        if not char.isascii() or not char.isprintable() or char.isspace():
            raise ValueError(f"character {position} ({ascii(char)}) cannot be part of a Slack token: copy it "
                             "again from the app's page on api.slack.com, without the README's placeholder")
    return value


# -- reading --------------------------------------------------------------------------------------

def read_environment(env_file: str | None = ".env") -> dict[str, str]:
    """Settings by lower-case name: `.env` (when present) overlaid by the process environment."""
    values: dict[str, str] = {}
    if env_file and os.path.isfile(env_file):
        from dotenv import dotenv_values

        values.update({k.lower(): v for k, v in dotenv_values(env_file, encoding="utf-8").items() if v is not None})
    values.update({k.lower(): v for k, v in os.environ.items()})
    return values


def default_database_url() -> str:
    from storage.location import default_sqlite_path

    return f"sqlite:///{default_sqlite_path()}"


class DisplayZones:
    """The zones times are shown in, for any settings with a `default_timezone`."""

    default_timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    def display_zone(self, display_tz: str | None) -> ZoneInfo:
        """An incident's display zone: its own (`/incident timezone`), else DEFAULT_TIMEZONE."""
        if display_tz:
            try:
                return ZoneInfo(display_tz)
            except (KeyError, ValueError):
                pass
        return self.zone


@dataclass(frozen=True)
class CommandSettings(DisplayZones):
    """What the read-only commands need: where the database is, how to show times, which templates."""

    database_url: str
    default_timezone: str = "UTC"
    key_event_emoji: str = "pushpin"
    log_level: str = "INFO"
    templates_dir: Path | None = None


_COMMAND_RULES = {
    "database_url": database_url_rule,
    "default_timezone": zone_rule,
    "key_event_emoji": emoji_rule,
    "log_level": level_rule,
    "templates_dir": templates_dir_rule,
}


def load_command_settings(env_file: str | None = ".env") -> CommandSettings:
    """The read-only commands' settings, checked by the same rules as Settings; ConfigError if one is bad."""
    given = read_environment(env_file)
    values, problems = {}, []
    defaults = {"database_url": None, "default_timezone": "UTC", "key_event_emoji": "pushpin", "log_level": "INFO",
                "templates_dir": None}
    for name, rule in _COMMAND_RULES.items():
        raw = given.get(name, defaults[name])
        if raw is None:
            continue
        try:
            values[name] = rule(raw)  # defaults too: UTC needs a zone database like any other zone
        except ValueError as exc:
            problems.append(f"{name.upper()} is invalid: {exc} (got {shown_setting(name, raw)!r})")
    if problems:
        raise ConfigError("\n".join(problems))
    values.setdefault("database_url", default_database_url())
    return CommandSettings(**values)


def shown_setting(name: str, value):
    """A setting's value as it may appear in an error line: a database URL without its password."""
    if name.lower() == "database_url" and isinstance(value, str):
        from storage.db_errors import redacted

        return redacted(value)
    return value
