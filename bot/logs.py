"""Logging set-up, with a filter that keeps tokens and secrets out of every line.

slack-sdk redacts the Authorization header but may log a token passed as a parameter, a Socket
Mode URL carries a ticket, and request bodies may carry a verification token: the filter scrubs
anything shaped like a Slack, GitHub or Atlassian token or an Authorization header's value, plus the
exact configured secrets (bot/config.py `Settings.secrets`), from each record.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable

_TOKEN_SHAPES = re.compile(
    r"(xox[abposecr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|(?<=ticket=)[A-Za-z0-9-]+|(?<=token=)[A-Za-z0-9]{12,}"
    # GitHub tokens (classic, fine-grained, app), Atlassian API tokens, and any Authorization header value
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|ATATT[A-Za-z0-9_=-]{20,}"
    r"|(?<=Bearer )[A-Za-z0-9._~+/=-]{8,}|(?<=Basic )[A-Za-z0-9+/=]{8,})"
)
REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is not ours to fix here
            return True
        clean = self.scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        record.msg, record.args = clean, None
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log to stderr with times in UTC; every handler on the root logger gets the redaction filter."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_incident_bot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._incident_bot = True  # type: ignore[attr-defined]
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    if level != "DEBUG":
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        logging.getLogger("alembic.runtime.migration").addFilter(_only_applied_migrations)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per tracker request: DEBUG only
    logging.getLogger("bot.bolt").addFilter(_drop_bolt_token_warning)


def _only_applied_migrations(record: logging.LogRecord) -> bool:
    """Alembic says which backend it found on every command; only `Running upgrade …` is news."""
    return record.levelno > logging.INFO or record.getMessage().startswith("Running upgrade")


def _drop_bolt_token_warning(record: logging.LogRecord) -> bool:
    """Bolt warns that SLACK_BOT_TOKEN in the environment is unused because we pass our own client."""
    return "`token` will be unused" not in str(record.msg)
