"""Settings from the environment and a `.env` file (docs/operating.md), validated once at start.

A missing or malformed setting stops start-up with one clear line naming it (`ConfigError`).
Tokens are `SecretStr`: they print as `**********` and never reach a log line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.environment import (
    ConfigError,
    DisplayZones,
    ascii_secret_rule,
    database_url_rule,
    emoji_rule,
    shown_setting,
    templates_dir_rule,
    zone_rule,
)
from storage.location import default_sqlite_path

__all__ = ["ConfigError", "Settings", "load_settings"]

SLACK_API_DEFAULT = "https://slack.com/api/"
GITHUB_API_DEFAULT = "https://api.github.com"
_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_SECRETS = ("slack_bot_token", "slack_app_token", "slack_signing_secret", "github_token", "github_webhook_secret",
            "jira_api_token", "jira_webhook_secret")


class Settings(BaseSettings, DisplayZones):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = SLACK_API_DEFAULT
    database_url: str = Field(default_factory=lambda: f"sqlite:///{default_sqlite_path()}")
    default_timezone: str = "UTC"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    incident_channel_mode: Literal["create", "current"] = "create"
    channel_prefix: str = "inc-"
    key_event_emoji: str = "pushpin"
    backfill_minutes: int = Field(default=60, ge=0, le=60 * 24 * 7)
    capture_after_resolved_days: int = Field(default=7, ge=0)
    templates_dir: Path | None = None
    prompt_max_people: int = Field(default=25, ge=0, le=1000)
    reminders_enabled: bool = True
    reminder_interval_minutes: int = Field(default=60, ge=1, le=60 * 24 * 7)
    reminder_repeat_hours: int = Field(default=24, ge=0)
    postmortem_nudge_days: int = Field(default=2, ge=0)
    # status updates (docs/commands.md, docs/reminders.md): where else `/incident update` posts, and
    # after how long without an update the commander is reminded to post one (0: never)
    announce_channel: str | None = None
    update_reminder_minutes: int = Field(default=30, ge=0, le=60 * 24 * 7)
    # Not in the spec's list, but operators need them: the HTTP server's thread pool.
    web_threads: int = Field(default=32, ge=1, le=512)
    # issue trackers and postmortems as code (docs/trackers.md)
    tracker: Literal["none", "github", "jira"] = "none"
    github_token: SecretStr | None = None
    github_repo: str | None = None
    github_api_url: str = GITHUB_API_DEFAULT
    github_webhook_secret: SecretStr | None = None
    jira_base_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None
    jira_issue_type: str = "Task"
    jira_done_transition: str = "Done"
    jira_webhook_secret: SecretStr | None = None
    postmortem_repo: str | None = None

    # The web view (docs/web.md): Sign in with Slack, or WEB_AUTH=none on a trusted network.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    web_base_url: str | None = None
    web_auth: Literal["slack", "none"] = "slack"
    web_session_secret: SecretStr | None = None

    @field_validator("slack_bot_token", "slack_app_token", "slack_signing_secret")
    @classmethod
    def _ascii(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            ascii_secret_rule(value.get_secret_value())
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb- (OAuth & Permissions page)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (Basic Information page)")
        return value

    @field_validator(*_SECRETS, "github_repo", "jira_base_url", "jira_email", "jira_project", "postmortem_repo",
                     "slack_client_id", "slack_client_secret", "web_base_url", "web_session_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value

    @field_validator("github_token", "jira_api_token")  # webhook secrets are any text, spaces included
    @classmethod
    def _tracker_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for position, char in enumerate(value.get_secret_value(), 1):
                if not char.isascii() or not char.isprintable() or char.isspace():
                    raise ValueError(f"character {position} ({ascii(char)}) cannot be part of a token: copy it again")
        return value

    @field_validator("github_repo", "postmortem_repo")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        if value is not None and not _REPO.fullmatch(value.strip()):
            raise ValueError("must be owner/name, such as acme/checkout-service")
        return None if value is None else value.strip()

    @field_validator("github_api_url", "jira_base_url")
    @classmethod
    def _tracker_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value.strip()):
            raise ValueError("must be an http(s) URL such as https://api.github.com or https://acme.atlassian.net")
        return value.strip().rstrip("/")

    @field_validator("jira_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value.strip()):
            raise ValueError("must be the e-mail address of the Atlassian account the API token belongs to")
        return None if value is None else value.strip()

    @field_validator("jira_project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z][A-Z0-9_]{0,254}", value.strip()):
            raise ValueError("must be a Jira project key in capitals, such as OPS")
        return None if value is None else value.strip()

    @field_validator("jira_issue_type", "jira_done_transition")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip() or len(value) > 255:
            raise ValueError("must be a name as Jira shows it, such as Task or Done")
        return value.strip()

    @field_validator("tracker", mode="before")
    @classmethod
    def _tracker(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("slack_client_secret", "web_session_secret")
    @classmethod
    def _secret_ascii(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            ascii_secret_rule(value.get_secret_value())
        return value

    @field_validator("slack_client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]+\.[0-9]+", value.strip()):
            raise ValueError("must be the app's Client ID, such as 1111111111.2222222222222 (Basic Information page)")
        return value.strip() if value is not None else None

    @field_validator("web_base_url")
    @classmethod
    def _web_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#@]+/?", value):
            raise ValueError("must be the web view's public origin, without a path, such as https://bot.example.com")
        return value.rstrip("/")

    @field_validator("web_auth", mode="before")
    @classmethod
    def _web_auth(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("announce_channel", mode="before")
    @classmethod
    def _announce_channel(cls, value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not re.fullmatch(r"[CG][A-Z0-9]{6,20}", value.strip()):
            raise ValueError("must be a channel ID such as C0123ABCDEF (in Slack: the channel's name → "
                             "About → Channel ID), not its name")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return database_url_rule(value)

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return zone_rule(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value):
        return value.upper() if isinstance(value, str) else value

    @field_validator("incident_channel_mode", mode="before")
    @classmethod
    def _mode(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_-]{0,20}", value):
            raise ValueError("use at most 20 lowercase letters, digits, '-' or '_' (e.g. inc-)")
        return value

    @field_validator("key_event_emoji")
    @classmethod
    def _emoji(cls, value: str) -> str:
        return emoji_rule(value)

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir(cls, value: Path | None) -> Path | None:
        return None if value is None else templates_dir_rule(value)

    # -- derived --------------------------------------------------------------------------------

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def sign_in_enabled(self) -> bool:
        """Sign in with Slack is set up (SLACK_CLIENT_ID given, and WEB_AUTH is not `none`)."""
        return self.web_auth == "slack" and self.slack_client_id is not None

    @property
    def web_enabled(self) -> bool:
        """The web pages are served: with sign-in set up, or opened by WEB_AUTH=none."""
        return self.web_auth == "none" or self.slack_client_id is not None

    def require_web(self) -> None:
        """What Sign in with Slack needs beyond the client ID (checked at start, one line each)."""
        if not self.sign_in_enabled:
            return
        if self.slack_client_secret is None:
            raise ConfigError("SLACK_CLIENT_SECRET is missing: set it to the app's Client Secret (Basic Information "
                              "page), or unset SLACK_CLIENT_ID to turn the web view off")
        if self.web_base_url is None:
            raise ConfigError("WEB_BASE_URL is missing: set it to the web view's public origin (such as "
                              "https://bot.example.com); add WEB_BASE_URL/auth/slack/callback as a redirect URL")

    def require_slack(self) -> None:
        """What `run` and `reminders sweep` need beyond the database."""
        if self.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is missing: set it to the app's bot token (xoxb-…)")

    def secrets(self) -> list[str]:
        """Every configured token and secret, for the log filter (bot/logs.py)."""
        values = [getattr(self, name) for name in _SECRETS]
        return [v.get_secret_value() for v in values if v is not None]

    def require_tracker(self) -> None:
        """What TRACKER and POSTMORTEM_REPO need: every setting of the chosen tracker (one line naming
        the first one missing). Webhook secrets are optional: without one, that webhook route refuses
        every delivery and the reminder sweep's polling keeps items in step."""
        needed: list[tuple[str, str]] = []
        if self.tracker == "github" or self.postmortem_repo:
            needed.append(("github_token", "a GitHub token with Issues (and, for POSTMORTEM_REPO, Contents and "
                                           "Pull requests) read and write"))
        if self.tracker == "github":
            needed.append(("github_repo", "the repository for action items, as owner/name"))
        if self.tracker == "jira":
            needed += [("jira_base_url", "your site, such as https://acme.atlassian.net"),
                       ("jira_email", "the e-mail address of the account the API token belongs to"),
                       ("jira_api_token", "an API token from id.atlassian.com"),
                       ("jira_project", "the project key for action items, such as OPS")]
        for name, what in needed:
            if getattr(self, name) is None:
                why = "POSTMORTEM_REPO" if name == "github_token" and self.tracker != "github" else \
                    f"TRACKER={self.tracker}"
                raise ConfigError(f"{name.upper()} is missing ({why} needs it): set it to {what}")

    def require_server(self) -> None:
        self.require_slack()
        self.require_web()
        if not self.socket_mode and self.slack_signing_secret is None:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is missing: set it for HTTP mode, "
                "or set SLACK_APP_TOKEN (xapp-…) to use Socket Mode"
            )


def load_settings(**overrides) -> Settings:
    """Read settings, turning validation errors into ConfigError lines that name the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            message = error["msg"].removeprefix("Value error, ")
            given = error.get("input")
            hidden = (name.lower() in _SECRETS or name.startswith("SLACK_") or name == "WEB_SESSION_SECRET"
                      or isinstance(given, dict))
            shown = "" if hidden else f" (got {shown_setting(name, given)!r})"
            lines.append(f"{name} is invalid: {message}{shown}")
        raise ConfigError("\n".join(lines)) from None
